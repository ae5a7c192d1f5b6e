# The production image: one image, three roles (api, relay, projector) chosen by the command.
# The runtime packages only: `tools` (the demo and the benchmarks, `ppcx-tools`) stays out.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PPCX_DATA_DIR=/var/lib/ppcx
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ppcx ppcx
COPY domain domain
COPY eventstore eventstore
COPY handlers handlers
COPY exchange exchange
COPY projections projections
COPY api api
COPY replay replay
COPY evidence evidence
RUN pip install . && useradd --system --home /var/lib/ppcx ppcx \
    && mkdir -p /var/lib/ppcx && chown ppcx /var/lib/ppcx
USER ppcx
EXPOSE 8000
ENTRYPOINT ["ppcx"]
CMD ["serve"]
