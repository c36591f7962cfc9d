#!/usr/bin/python3
"""The same work as `digitbench bench`, done by scikit-learn and PyTorch (optional peers).

Reads the same idx files, same official split, pixels / 255. Prints one JSON object:
{row key: {"seconds": float, "cpu_seconds": float, "threads": int, "accuracy": float | null,
"engine": str}}. Only used by `digitbench bench --vs-peers`; the project itself never needs Python.

Equal cores: argv[3] is the thread count digitbench's side gets. Every peer gets the same: BLAS
threads (the caller sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before numpy loads, and threadpoolctl
confirms them), n_jobs where the estimator has it, torch.set_num_threads. Estimators without a
thread option (DecisionTreeClassifier, SVC) run on one core, and their row says so; GaussianNB has
none either, but its numpy products use the BLAS threads.
"""
import json
import os
import sys
import time

import numpy as np


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    n = int.from_bytes(data[4:8], "big")
    if magic == 2051:
        r, c = int.from_bytes(data[8:12], "big"), int.from_bytes(data[12:16], "big")
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, r * c)
    return np.frombuffer(data, np.uint8, offset=8)


def blas_threads():
    try:
        from threadpoolctl import threadpool_info

        return max((p.get("num_threads", 1) for p in threadpool_info() if p.get("user_api") == "blas"), default=1)
    except ImportError:
        return int(os.environ.get("OPENBLAS_NUM_THREADS", "1"))


def main():
    data_dir, keys = sys.argv[1], set(sys.argv[2].split(","))
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    xtr = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte")).astype(np.float32) / 255
    ytr = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte")).astype(np.int64)
    xte = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte")).astype(np.float32) / 255
    yte = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte")).astype(np.int64)
    out = {}
    import sklearn
    from sklearn.decomposition import PCA

    sk = f"scikit-learn {sklearn.__version__}"

    last_cpu = [0.0]

    def timed(f):
        c = time.process_time()  # every thread of this process
        t = time.perf_counter()
        r = f()
        last_cpu[0] = time.process_time() - c
        return time.perf_counter() - t, r

    def row(secs, acc, engine, n_threads):
        return {"seconds": secs, "cpu_seconds": last_cpu[0], "threads": n_threads, "accuracy": acc, "engine": engine}

    blas = blas_threads()

    pca = None
    if keys & {"pca", "pca-project", "nb", "knn", "svm"}:
        secs, pca = timed(lambda: PCA(50, random_state=0).fit(xtr))
        out["pca"] = row(secs, None, f"{sk} (randomized, {blas} BLAS threads)", blas)
        secs, pte = timed(lambda: pca.transform(xte))
        out["pca-project"] = row(secs, None, f"{sk} ({blas} BLAS threads)", blas)
        ptr = pca.transform(xtr)
    if "nb" in keys:
        from sklearn.naive_bayes import GaussianNB

        secs, acc = timed(lambda: (GaussianNB().fit(ptr, ytr).predict(pte) == yte).mean())
        out["nb"] = row(secs, float(acc), f"{sk} (no thread option; numpy's BLAS: {blas} threads)", blas)
    if "tree" in keys:
        from sklearn.tree import DecisionTreeClassifier

        secs, m = timed(lambda: DecisionTreeClassifier(random_state=0).fit(xtr, ytr))
        out["tree"] = row(secs, float((m.predict(xte) == yte).mean()), f"{sk} (no thread option)", 1)
    if "forest" in keys:
        from sklearn.ensemble import RandomForestClassifier

        secs, m = timed(lambda: RandomForestClassifier(100, random_state=0, n_jobs=threads).fit(xtr, ytr))
        out["forest"] = row(secs, float((m.predict(xte) == yte).mean()), f"{sk} (n_jobs={threads})", threads)
    if "knn" in keys:
        from sklearn.neighbors import KNeighborsClassifier

        m = KNeighborsClassifier(3, n_jobs=threads).fit(ptr, ytr)
        secs, p = timed(lambda: m.predict(pte))
        out["knn"] = row(secs, float((p == yte).mean()), f"{sk} ({m._fit_method}, n_jobs={threads})", threads)
    if "svm" in keys:
        from sklearn.svm import SVC

        def svm():
            return (SVC(C=10, gamma="scale").fit(ptr, ytr).predict(pte) == yte).mean()

        secs, acc = timed(svm)
        out["svm"] = row(secs, float(acc), f"{sk} SVC (libsvm; no thread option)", 1)
    if keys & {"lenet", "keras"}:
        import torch
        import torch.nn as nn

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        xt = torch.from_numpy(xtr).reshape(-1, 1, 28, 28)
        yt = torch.from_numpy(ytr)
        xv = torch.from_numpy(xte).reshape(-1, 1, 28, 28)
        nets = {
            "lenet": lambda: nn.Sequential(
                nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)),
            "keras": lambda: nn.Sequential(
                nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
                nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10)),
        }
        for key in ("lenet", "keras"):
            if key not in keys:
                continue
            net = nets[key]()
            opt = torch.optim.Adam(net.parameters(), 1e-3)
            loss_fn = nn.CrossEntropyLoss()

            def epoch():
                net.train()
                perm = torch.randperm(len(xt))
                for i in range(0, len(xt), 128):
                    idx = perm[i:i + 128]
                    opt.zero_grad()
                    loss_fn(net(xt[idx]), yt[idx]).backward()
                    opt.step()

            secs, _ = timed(epoch)
            net.eval()
            with torch.no_grad():
                acc = float((net(xv).argmax(1).numpy() == yte).mean())
            out[key] = row(secs, acc, f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)", torch.get_num_threads())
    if "ceiling" in keys:
        # numpy's float32 product on the same cores: the peers' own ceiling, for reference.
        a = np.random.default_rng(1).random((2048, 2048), dtype=np.float32)
        b = np.random.default_rng(2).random((2048, 2048), dtype=np.float32)
        a @ b
        times = []
        for _ in range(5):
            secs, _ = timed(lambda: a @ b)
            times.append(secs)
        secs = sorted(times)[2]
        out["ceiling"] = row(secs, None, f"numpy {np.__version__} float32 2048² product ({blas} BLAS threads)", blas)
        out["ceiling"]["gflops"] = 2 * 2048**3 / secs / 1e9
    print(json.dumps(out))


if __name__ == "__main__":
    main()
