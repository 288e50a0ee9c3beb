# moto_server with one workaround, for the live worker test (started through the venv's Python
# by liveworker_test.go; arguments as for moto_server).
#
# moto 5.2.5 crashes RunTask (TypeError: += None) when a Fargate task definition's container
# has no container-level memory: it adds up every container's "memory" or "memoryReservation"
# for placement, although Fargate sizes tasks by the task-level memory, which the Prefect ECS
# worker sets (as AWS requires). The wrapper below lets moto read a missing container memory as
# 0 for that sum only, then restores the definition, so what moto stores and returns is what
# the worker registered.
import sys

from moto.ecs.models import EC2ContainerServiceBackend
from moto.server import main

_MEMORY_KEYS = ("memory", "Memory", "memoryReservation", "MemoryReservation")
_sum_requirements = EC2ContainerServiceBackend._calculate_task_resource_requirements


def _requirements_without_container_memory(task_definition):
    patched = []
    for container in task_definition.container_definitions:
        if all(container.get(key) is None for key in _MEMORY_KEYS):
            patched.append((container, "memory" in container, container.get("memory")))
            container["memory"] = 0
    try:
        return _sum_requirements(task_definition)
    finally:
        for container, had_key, value in patched:
            if had_key:
                container["memory"] = value
            else:
                del container["memory"]


EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(
    _requirements_without_container_memory
)

if __name__ == "__main__":
    sys.exit(main())
