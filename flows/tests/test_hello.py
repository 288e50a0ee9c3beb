from hello import ecs_flow


def test_ecs_flow_says_hello():
    state = ecs_flow(return_state=True)
    assert state.is_completed(), state
    assert state.result() == "Hello, Prefect on ECS!"
