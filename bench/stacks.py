"""Summarise py-spy's collapsed stacks (``bench/run.py --profile DIR --profile-format raw``).

    python3 bench/stacks.py DIR/sqlite-1000-latest-service-0-*.txt            # top functions, self and total
    python3 bench/stacks.py FILES --under request_id_tween --top 40           # only samples below a frame
    python3 bench/stacks.py FILES --group                                      # time by package

Each line of a raw file is ``frame;frame;...;frame count`` with frames ``function (file:line)``. "self" is the
share of samples whose innermost frame is the function, "total" the share in which it appears at all.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::(?P<line>\d+))?\)$")
GROUPS = (
    ("exams", "/src/exams/"), ("sqlalchemy", "/sqlalchemy/"), ("psycopg", "/psycopg"), ("pyramid", "/pyramid/"),
    ("pyramid_tm/transaction", "/pyramid_tm/"), ("pyramid_tm/transaction", "/transaction/"),
    ("zope", "/zope/"), ("webob", "/webob/"), ("gunicorn", "/gunicorn/"), ("jwcrypto", "/jwcrypto/"),
    ("json", "/json/"), ("logging", "/logging/"), ("threading/queue", "/threading.py"),
    ("threading/queue", "/queue.py"), ("concurrent", "/concurrent/"), ("selectors", "/selectors.py"),
    ("socket", "/socket.py"), ("sqlite3", "/sqlite3/"),
)


def parse(paths):
    for path in paths:
        with open(path) as handle:
            for line in handle:
                stack, _, count = line.rstrip("\n").rpartition(" ")
                if stack:
                    yield stack.split(";"), int(count)


def name(frame: str, lines: bool = True) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    file = match["file"]
    for marker in ("site-packages/", "/src/", "/lib/python3."):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{match['func']} ({file}:{match['line']})" if match["line"] and lines else f"{match['func']} ({file})"


def group(frame: str) -> str:
    for label, marker in GROUPS:
        if marker in frame:
            return label
    return "other"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--under", help="keep only samples with a frame whose function contains this text")
    parser.add_argument("--group", action="store_true", help="self time by package instead of by function")
    parser.add_argument("--no-lines", action="store_true", help="one entry per function, whatever its line")
    args = parser.parse_args(argv)

    self_time, total_time, groups = Counter(), Counter(), Counter()
    samples = 0
    for stack, count in parse(args.files):
        if args.under:
            cut = next((i for i, f in enumerate(stack) if args.under in f), None)
            if cut is None:
                continue
            stack = stack[cut:]
        samples += count
        self_time[name(stack[-1], not args.no_lines)] += count
        groups[group(stack[-1])] += count
        for frame in {name(f, not args.no_lines) for f in stack}:
            total_time[frame] += count
    if not samples:
        raise SystemExit("no samples")
    print(f"{samples} samples")
    if args.group:
        for label, n in groups.most_common():
            print(f"{100 * n / samples:6.1f}%  {label}")
        return
    print("self:")
    for frame, n in self_time.most_common(args.top):
        print(f"{100 * n / samples:6.1f}%  {frame}", flush=True)
    print("total:")
    for frame, n in total_time.most_common(args.top):
        print(f"{100 * n / samples:6.1f}%  {frame}", flush=True)


if __name__ == "__main__":
    main()
