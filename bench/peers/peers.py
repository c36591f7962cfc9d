#!/usr/bin/python3
"""The same work as `digitbench bench`, done by scikit-learn and PyTorch (optional peers).

Reads the same idx files, same official split, pixels / 255. Prints one JSON object:
{row key: {"seconds": float, "accuracy": float | null, "engine": str}}. Only used by
`digitbench bench --vs-peers`; the project itself never needs Python.
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


def main():
    data_dir, keys = sys.argv[1], set(sys.argv[2].split(","))
    xtr = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte")).astype(np.float32) / 255
    ytr = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte")).astype(np.int64)
    xte = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte")).astype(np.float32) / 255
    yte = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte")).astype(np.int64)
    out = {}
    import sklearn
    from sklearn.decomposition import PCA

    sk = f"scikit-learn {sklearn.__version__}"

    def timed(f):
        t = time.perf_counter()
        r = f()
        return time.perf_counter() - t, r

    pca = None
    if keys & {"pca", "pca-project", "nb", "knn", "svm"}:
        secs, pca = timed(lambda: PCA(50, random_state=0).fit(xtr))
        out["pca"] = {"seconds": secs, "accuracy": None, "engine": sk}
        secs, pte = timed(lambda: pca.transform(xte))
        out["pca-project"] = {"seconds": secs, "accuracy": None, "engine": sk}
        ptr = pca.transform(xtr)
    if "nb" in keys:
        from sklearn.naive_bayes import GaussianNB

        secs, acc = timed(lambda: (GaussianNB().fit(ptr, ytr).predict(pte) == yte).mean())
        out["nb"] = {"seconds": secs, "accuracy": float(acc), "engine": sk}
    if "tree" in keys:
        from sklearn.tree import DecisionTreeClassifier

        secs, m = timed(lambda: DecisionTreeClassifier(random_state=0).fit(xtr, ytr))
        out["tree"] = {"seconds": secs, "accuracy": float((m.predict(xte) == yte).mean()), "engine": sk}
    if "forest" in keys:
        from sklearn.ensemble import RandomForestClassifier

        secs, m = timed(lambda: RandomForestClassifier(100, random_state=0).fit(xtr, ytr))
        out["forest"] = {"seconds": secs, "accuracy": float((m.predict(xte) == yte).mean()), "engine": sk + " (1 core)"}
    if "knn" in keys:
        from sklearn.neighbors import KNeighborsClassifier

        m = KNeighborsClassifier(3).fit(ptr, ytr)
        secs, p = timed(lambda: m.predict(pte))
        out["knn"] = {"seconds": secs, "accuracy": float((p == yte).mean()), "engine": sk}
    if "svm" in keys:
        from sklearn.svm import SVC

        def svm():
            return (SVC(C=10, gamma="scale").fit(ptr, ytr).predict(pte) == yte).mean()

        secs, acc = timed(svm)
        out["svm"] = {"seconds": secs, "accuracy": float(acc), "engine": sk}
    if keys & {"lenet", "keras"}:
        import torch
        import torch.nn as nn

        torch.set_num_threads(2)
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
            out[key] = {"seconds": secs, "accuracy": acc, "engine": f"PyTorch {torch.__version__} (2 threads)"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
