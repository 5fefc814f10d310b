"""``art repro`` of the three-step example pipeline, with nothing changed, through the real CLI.

    python benchmarks/bench_pipeline.py [--repeat N] [--store URL | --s3]

Copies examples/pipeline to a temporary folder, runs ``art repro`` once (three steps run),
then times ``art repro`` again N times (every step skipped: fingerprints computed, run cache
read, outputs checked) as whole processes, Python start-up included. Also times ``art repro
--dry-run`` and, for scale, ``art --version`` (the CLI's start-up alone). Target: nothing
changed under 2 s in total. ``--s3`` uses a bucket on the S3 test server (tests/servers.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "examples", "pipeline")


def art(*args: str, cwd: str, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "arty", *args], cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t, proc


def main() -> None:
    from precompile import compile_arty  # time Arty as installed: from bytecode

    compile_arty()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--store", help="store URL (default: a new local store in the temporary folder)")
    ap.add_argument("--s3", action="store_true", help="a new bucket on the S3 test server")
    args = ap.parse_args()
    if args.s3:
        sys.path.insert(0, os.path.join(HERE, "..", "tests"))
        import servers

        server = servers.S3Server().start()
        os.environ.update(server.env())
        args.store = f"s3://{server.make_bucket()}/arty"
    work = tempfile.mkdtemp(prefix="bench-pipeline-")
    try:
        folder = os.path.join(work, "pipeline")
        shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("build", ".arty"))
        spec = os.path.join(folder, "arty.yaml")
        with open(spec) as f:
            text = f.read().replace("cmd: python ", f"cmd: {sys.executable} ")
        with open(spec, "w") as f:
            f.write(text)
        env = dict(os.environ, ARTY_STORE=args.store or os.path.join(work, "store"))
        subprocess.run([sys.executable, "-m", "arty", "init"], cwd=folder, env=env, check=True, capture_output=True)
        first, proc = art("repro", "--json", cwd=folder, env=env)
        assert proc.returncode == 0, proc.stderr
        ran = [s["action"] for s in json.loads(proc.stdout)["steps"]]
        times = []
        for _ in range(args.repeat):
            t, proc = art("repro", "--json", cwd=folder, env=env)
            assert proc.returncode == 0, proc.stderr
            assert [s["action"] for s in json.loads(proc.stdout)["steps"]] == ["skip"] * 3, proc.stdout
            times.append(t)
        dry = [art("repro", "--dry-run", cwd=folder, env=env)[0] for _ in range(args.repeat)]
        startup = [art("--version", cwd=folder, env=env)[0] for _ in range(args.repeat)]
        print(f"store: {env['ARTY_STORE']}")
        print(f"first art repro (3 steps {'/'.join(ran)}):  {first:.3f} s")
        print(f"art repro, nothing changed (3 skipped): best {min(times):.3f} s, median "
              f"{statistics.median(times):.3f} s over {args.repeat} (target < 2 s)")
        print(f"art repro --dry-run:                    best {min(dry):.3f} s, median {statistics.median(dry):.3f} s")
        print(f"art --version (CLI start-up alone):      best {min(startup):.3f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
