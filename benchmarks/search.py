"""Search latency at 10k and 1M indexed videos: exact scan vs an IVF_PQ index (LanceDB).

The vectors are synthetic but shaped like the library's learned embeddings:
256-d, unit length, drawn around a few thousand cluster centres (real embedding
sets are clustered; uniform noise on the sphere is the worst case for any ANN).
For each size the script writes a LanceDB table, then measures per query (top 10):

* numpy  -- brute-force ``X @ q`` + argpartition in memory: the baseline
* exact  -- LanceDB flat scan (no index)
* ivf_pq -- LanceDB IVF_PQ index (``num_partitions ~ sqrt(N)``, 64 sub-vectors),
  at a few ``nprobes`` with ``refine_factor`` re-ranking, and its recall@10
  against the exact top 10.

Index build time is reported (2 shared cores here). Usage::

    python benchmarks/search.py                       # 10k and 1M
    python benchmarks/search.py --sizes 10000 --queries 50
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 256
K = 10
SUB = 64  # PQ sub-vectors: 4 dimensions each


def make_vectors(n: int, rng, centres: np.ndarray, chunk: int = 100_000):
    """Yield ``(chunk, DIM)`` float32 unit vectors around random centres."""
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        c = centres[rng.integers(0, len(centres), m)]
        x = c + rng.normal(0, 0.035, (m, DIM)).astype(np.float32)  # noise norm ~0.56 of a unit centre
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        yield x.astype(np.float32)


def timed(fn, queries) -> tuple[float, list]:
    out, times = [], []
    for q in queries:
        t = time.perf_counter()
        out.append(fn(q))
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1000, out


def run(n: int, queries: int, root: Path, rng, nprobes_list) -> list[dict]:
    import lancedb
    import pyarrow as pa
    from lancedb.index import IvfPq

    centres = rng.normal(size=(max(16, n // 250), DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    db = lancedb.connect(str(root / f"n{n}"))
    schema = pa.schema([pa.field("id", pa.int64()), pa.field("vector", pa.list_(pa.float32(), DIM))])
    table = None
    parts = []
    t0 = time.perf_counter()
    offset = 0
    for x in make_vectors(n, rng, centres):
        parts.append(x)
        data = pa.table({"id": np.arange(offset, offset + len(x)),
                         "vector": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), DIM)}, schema=schema)
        offset += len(x)
        if table is None:
            table = db.create_table("v", data=data, schema=schema)
        else:
            table.add(data)
    write_s = time.perf_counter() - t0
    X = np.concatenate(parts)
    del parts
    Q = next(make_vectors(queries, rng, centres))

    def numpy_top(q):
        s = X @ q
        idx = np.argpartition(-s, K)[:K]
        return idx[np.argsort(-s[idx])]

    def lance_top(q, nprobes=None, refine=None):
        s = table.search(q).distance_type("dot").limit(K).select(["id", "_distance"])
        if nprobes is not None:
            s = s.nprobes(nprobes)
        if refine is not None:
            s = s.refine_factor(refine)
        return np.array([r["id"] for r in s.to_list()])

    rows = []
    base_ms, truth = timed(numpy_top, Q)
    rows.append({"n": n, "method": "numpy brute force (baseline)", "ms": base_ms, "recall": 1.0, "build_s": 0.0})
    exact_ms, exact = timed(lance_top, Q)
    agree = np.mean([len(set(a) & set(b)) / K for a, b in zip(exact, truth)])
    rows.append({"n": n, "method": "LanceDB exact scan", "ms": exact_ms, "recall": agree, "build_s": write_s})
    partitions = int(max(16, round(np.sqrt(n))))
    t0 = time.perf_counter()
    table.create_index("vector", config=IvfPq(distance_type="dot", num_partitions=partitions, num_sub_vectors=SUB))
    build_s = time.perf_counter() - t0
    for nprobes in nprobes_list:
        for refine in (None, 10, 50):
            ms, got = timed(lambda q: lance_top(q, nprobes, refine), Q)
            recall = np.mean([len(set(a) & set(b)) / K for a, b in zip(got, truth)])
            rows.append({"n": n, "method": f"IVF_PQ p={partitions} m={SUB} nprobes={nprobes}"
                                            + (f" refine={refine}" if refine else ""),
                         "ms": ms, "recall": recall, "build_s": build_s})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--nprobes", type=int, nargs="+", default=[10, 40])
    ap.add_argument("--dir", default=None, help="where the tables go (default: a temp folder, removed)")
    args = ap.parse_args()
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="vidcap-search-bench-"))
    rng = np.random.default_rng(0)
    rows = []
    try:
        for n in args.sizes:
            rows += run(n, args.queries, root, rng, args.nprobes)
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"top-{K} search, {DIM}-d unit vectors, median over {args.queries} queries")
    print("| videos | method | ms / query | × baseline | recall@10 vs exact | write (exact) / index build s |")
    print("|---|---|---|---|---|---|")
    base = {r["n"]: r["ms"] for r in rows if r["method"].startswith("numpy")}
    for r in rows:
        print(f"| {r['n']:,} | {r['method']} | {r['ms']:.2f} | {r['ms'] / base[r['n']]:.2f} | {r['recall']:.3f} "
              f"| {r['build_s']:.1f} |")


if __name__ == "__main__":
    main()
