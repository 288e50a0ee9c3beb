"""The seed guide's first flow: proves a deployment runs on ECS Fargate."""

from prefect import flow, task


@task
def say_hello() -> str:
    message = "Hello, Prefect on ECS!"
    print(message)
    return message


@flow(log_prints=True)
def ecs_flow() -> str:
    return say_hello()


if __name__ == "__main__":
    ecs_flow()
