"""The live server test's worker for the CANCELLING cleanup check.

prefect 3.9.1's BaseWorker as it is (its worker channel to the API, cleanup delivery and the
CANCELLING-timeout teardown handler), with one kind of infrastructure: kill_infrastructure
appends the infrastructure id it is asked to stop to a file. It runs no flow.

Usage: python cleanup_worker.py <work pool> <file>
"""

import asyncio
import sys

from prefect.workers.base import BaseJobConfiguration, BaseWorker, BaseWorkerResult


class ProbeResult(BaseWorkerResult):
    pass


class CleanupProbeWorker(BaseWorker[BaseJobConfiguration, None, ProbeResult]):
    type = "serverlive-probe"

    async def run(self, flow_run, configuration, task_status=None):
        raise RuntimeError("the cleanup probe runs no flow")

    async def kill_infrastructure(self, infrastructure_pid, configuration, grace_seconds=30):
        with open(sys.argv[2], "a") as f:
            f.write(infrastructure_pid + "\n")


if __name__ == "__main__":
    asyncio.run(CleanupProbeWorker(work_pool_name=sys.argv[1], create_pool_if_not_found=True).start())
