"""A training script for the `command` task's tests: reads the configuration from stdin, prints
one JSON line per epoch (x + 1/epoch), then its final value; fails or hangs on request."""

import json
import sys
import time

given = json.loads(sys.stdin.read())
config, fidelity = given["config"], given["fidelity"]
x = float(config["x"])
if config.get("mode") == "fail":
    print("something went wrong in the data loader", file=sys.stderr)
    sys.exit(3)
for epoch in range(1, fidelity + 1):
    if config.get("mode") == "hang":
        time.sleep(60)
    print(f"epoch {epoch} done")  # ordinary output is ignored
    print(json.dumps({"step": epoch, "value": x + 1.0 / epoch}), flush=True)
print(json.dumps({"value": x + 1.0 / fidelity, "test_value": x}), flush=True)
