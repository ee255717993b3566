"""Make a shipped typed model use another shipped model's probe instead of a copy of it.

    python scripts/share_probe.py src/tommer/pretrained/smollm2-135m-conll03 smollm2-135m

The model's ``model.safetensors`` must be byte-identical to the named model's (a head trained on
that probe by ``tommer train-types --model NAME``); it is deleted and ``config.json`` gains
``"probe_from": NAME`` (:func:`tommer.core.layout.probe_weights`). Anything else is refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tommer.core.layout import CONFIG_NAME, PRETRAINED_DIR, PROBE_FROM, WEIGHTS_NAME


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("probe_from", help="a shipped model's name")
    args = ap.parse_args(argv)
    own, shared = args.model_dir / WEIGHTS_NAME, PRETRAINED_DIR / args.probe_from / WEIGHTS_NAME
    if not shared.is_file():
        print(f"share_probe: {shared} does not exist", file=sys.stderr)
        return 2
    if not own.is_file() or own.read_bytes() != shared.read_bytes():
        print(f"share_probe: {own} is not a copy of {shared}: keeping it", file=sys.stderr)
        return 2
    config_path = args.model_dir / CONFIG_NAME
    config = json.loads(config_path.read_text())
    config[PROBE_FROM] = args.probe_from
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    own.unlink()
    print(f"{args.model_dir} now reads its probe from {args.probe_from}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
