#!/bin/sh
# Container entrypoint: log in with the API key from the environment (an env file in compose),
# then run the command. The key is verified against the server before anything trains, so a
# wrong key fails the container at start instead of losing a run later.
set -eu
if [ -n "${LABBOOK_API_KEY:-}" ] && [ "${1:-}" != "labbook" -o "${2:-}" != "server" ]; then
    if [ -z "${LABBOOK_BASE_URL:-}" ]; then
        echo "entrypoint: LABBOOK_API_KEY is set but LABBOOK_BASE_URL is not" >&2
        exit 2
    fi
    labbook login "$LABBOOK_API_KEY" --host "$LABBOOK_BASE_URL"
fi
exec "$@"
