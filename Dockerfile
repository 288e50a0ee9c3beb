# Flow image: the code of flows/ on a pinned Prefect base. Flow runs execute
# `prefect flow-run execute` in /opt/prefect/flows (see stacks.FlowWorkdir).
FROM prefecthq/prefect:3.9.1-python3.12

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/prefect/flows

COPY flows/requirements.txt ./requirements.txt
RUN pip install -r requirements.txt

COPY flows/ ./
