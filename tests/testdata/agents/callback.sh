#!/bin/sh
# Sends a message back through the engine's HTTP API with its own token, then replies.
curl -sf -H "Authorization: Bearer $CROSSTALK_TOKEN" -H "content-type: application/json" \
  -d "{\"to\":\"tester\",\"body\":\"called back as $CROSSTALK_MODEL\"}" "$CROSSTALK_API/api/messages" >/dev/null \
  || { echo "callback failed" >&2; exit 1; }
echo "replied after calling back"
