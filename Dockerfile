# labbook server image (also usable as a base for training containers, see docker/train.Dockerfile).
# Build: docker build -t labbook .    Run: see docker-compose.yml

# The dashboard: web/ built by Vite into src/labbook/server/webapp (what the wheel ships).
FROM node:20-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci
COPY web ./
RUN npm run build && test -f /src/src/labbook/server/webapp/index.html

FROM python:3.11-slim AS build
# The dashboard comes built from the node stage: the wheel's build hook has nothing to do.
ENV PIP_NO_CACHE_DIR=1 LABBOOK_SKIP_WEB_BUILD=1
WORKDIR /src
COPY pyproject.toml README.md hatch_build.py ./
COPY src ./src
COPY examples ./examples
COPY --from=web /src/src/labbook/server/webapp ./src/labbook/server/webapp
RUN test -f src/labbook/server/webapp/index.html \
    && pip wheel --no-deps -w /wheels . && pip wheel -w /wheels "boto3>=1.34" "psycopg[binary]>=3.1"

FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 LABBOOK_DIR=/data
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home --uid 1000 labbook && mkdir -p /data && chown labbook /data
COPY docker/entrypoint.sh /usr/local/bin/labbook-entrypoint
USER labbook
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["labbook-entrypoint"]
# Auth is on whenever the server binds a non-loopback address; the server refuses to start without.
CMD ["labbook", "server", "--host", "0.0.0.0", "--port", "8080"]
