# Flow image: the code of flows/ on a pinned Prefect base. Flow runs execute
# `prefect flow-run execute` in /opt/prefect/flows (see stacks.FlowWorkdir).
FROM prefecthq/prefect:3.9.1-python3.12

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# Flow runs run as the non-root user prefect (uid/gid 10001, stacks.ContainerUID), which owns
# its home and the flow folder: the root filesystem stays writable, since flow code writes files.
RUN groupadd --gid 10001 prefect \
 && useradd --uid 10001 --gid 10001 --home-dir /home/prefect --create-home --shell /usr/sbin/nologin prefect \
 && install -d -o 10001 -g 10001 /opt/prefect/flows
ENV HOME=/home/prefect
WORKDIR /opt/prefect/flows

COPY flows/requirements.txt ./requirements.txt
RUN pip install -r requirements.txt

COPY --chown=10001:10001 flows/ ./
USER 10001:10001
