"""Print mutmut's results as counts per status and the kill rate (for tools/mutation.sh)."""

import collections
import subprocess
import sys


def main():
    out = subprocess.run(
        ["mutmut", "results", "--all", "true"], capture_output=True, text=True, check=False
    ).stdout
    counts = collections.Counter()
    by_module = collections.defaultdict(collections.Counter)
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        counts[status] += 1
        by_module[name.split(".x")[0]][status] += 1
    killed = counts["killed"] + counts["timeout"]
    tested = killed + counts["survived"] + counts["no tests"]
    for module, c in sorted(by_module.items()):
        k = c["killed"] + c["timeout"]
        n = k + c["survived"] + c["no tests"]
        print(f"{module:40} {k:5} / {n:5} killed ({100 * k / max(n, 1):.1f} %)")
    print(dict(counts))
    print(f"kill rate: {killed} / {tested} = {100 * killed / max(tested, 1):.1f} %")
    return 0 if tested else 1


if __name__ == "__main__":
    sys.exit(main())
