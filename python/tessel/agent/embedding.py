"""Embedding drift for images, audio and text: a fixed feature extractor of
the model's input tensors (what the model sees after tessel's conversion:
resized image tensors, log-mel spectrograms, token ids), compared with the
kernel two-sample test (MMD, RBF kernel, a permutation threshold).

Per-file summaries (watcher.folder_features) see brightness, loudness and
length; this sees the content's layout (which parts of the image or of the
spectrogram carry the energy, which tokens occur), and it applies unchanged
to the tensors the server logged. NumPy only.

    x_ref = Predictor.load(folder).preprocess(train_files).numpy()
    x_new = ...
    embedding_drift(x_ref, x_new, "image")   # {"mmd2", "threshold", "p_value", "drifted", ...}
"""
import numpy as np

__all__ = ["embed", "mmd_test", "embedding_drift"]

_GRID = 4          # images and spectrograms: mean of each channel over a 4 x 4 grid of cells
_TOKEN_BINS = 64   # text: token ids hashed into 64 bins, as shares of the non-padding tokens


def embed(x, kind):
    """[N, D] float64 features of a batch of model inputs. image: [N, C, H,
    W]; audio: [N, M, T] or [N, 1, M, T] (log-mel); text: [N, L] token ids
    (0 = padding); tabular/array: [N, ...] flattened."""
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"embed: expected a batch [N, ...] with N >= 1, got shape {x.shape}")
    if kind == "text":
        ids = x.reshape(x.shape[0], -1).astype(np.int64)
        real = ids != 0
        n = np.maximum(real.sum(axis=1), 1)
        bins = np.zeros((ids.shape[0], _TOKEN_BINS))
        rows = np.broadcast_to(np.arange(ids.shape[0])[:, None], ids.shape)
        np.add.at(bins, (rows[real], ids[real] % _TOKEN_BINS), 1.0)
        # The shares of each bin, and the length: long and short texts of the same words differ too.
        return np.concatenate([bins / n[:, None], np.log1p(real.sum(axis=1))[:, None]], axis=1)
    x = x.astype(np.float64)
    if kind in ("image", "audio"):
        if x.ndim == 3:  # [N, M, T]: one channel
            x = x[:, None]
        if x.ndim != 4:
            raise ValueError(f"embed: {kind} inputs must be [N, C, H, W] (or [N, H, W]), got shape {x.shape}")
        n, c, h, w = x.shape
        gh, gw = min(_GRID, h), min(_GRID, w)
        # Cell edges that cover every row and column (the last cells take the remainder).
        he = np.linspace(0, h, gh + 1).astype(int)
        we = np.linspace(0, w, gw + 1).astype(int)
        cells = [x[:, :, he[i]:he[i + 1], we[j]:we[j + 1]].mean(axis=(2, 3)) for i in range(gh) for j in range(gw)]
        return np.concatenate(cells + [x.std(axis=(2, 3))], axis=1)
    return x.reshape(x.shape[0], -1)


def _sq_dists(z):
    g = z @ z.T
    d = np.diag(g)
    return np.maximum(d[:, None] + d[None, :] - 2 * g, 0.0)


def _mmd2(k, a, b):
    """Unbiased MMD^2 of the samples at index sets a and b of kernel matrix k."""
    kaa, kbb, kab = k[np.ix_(a, a)], k[np.ix_(b, b)], k[np.ix_(a, b)]
    m, n = len(a), len(b)
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
                 - 2 * kab.mean())


def mmd_test(ref, cur, n_permutations=200, alpha=0.01, seed=0):
    """Kernel two-sample test of feature matrices ref [m, D] and cur [n, D]:
    features standardized over both samples, RBF kernel with
    the median pairwise distance as its width, the unbiased MMD^2, and its
    (1 - alpha) quantile over `n_permutations` seeded relabellings of the
    pooled sample. Returns {mmd2, threshold, p_value, drifted}."""
    ref, cur = np.asarray(ref, dtype=np.float64), np.asarray(cur, dtype=np.float64)
    if ref.ndim != 2 or cur.ndim != 2 or ref.shape[1] != cur.shape[1]:
        raise ValueError(f"mmd_test: expected [m, D] and [n, D] features, got {ref.shape} and {cur.shape}")
    if len(ref) < 2 or len(cur) < 2:
        raise ValueError(f"mmd_test: each sample needs at least 2 rows (got {len(ref)} and {len(cur)})")
    z = np.concatenate([ref, cur])
    # Scaled by the pooled sample (the same under every relabelling, so the permutation test stays exact;
    # the reference's own spread would blow up a feature it rarely shows).
    sd = z.std(axis=0)
    z = (z - z.mean(axis=0)) / np.where(sd > 1e-12, sd, 1.0)
    d2 = _sq_dists(z)
    med = np.median(d2[np.triu_indices(len(z), 1)])
    k = np.exp(-d2 / (med if med > 0 else 1.0))
    m = len(ref)
    idx = np.arange(len(z))
    stat = _mmd2(k, idx[:m], idx[m:])
    rng = np.random.default_rng(seed)
    null = np.empty(n_permutations)
    for i in range(n_permutations):
        p = rng.permutation(len(z))
        null[i] = _mmd2(k, p[:m], p[m:])
    p_value = float((1 + np.sum(null >= stat)) / (1 + n_permutations))
    return {"mmd2": stat, "threshold": float(np.quantile(null, 1 - alpha)), "p_value": p_value,
            "drifted": bool(p_value < alpha)}


def embedding_drift(ref_inputs, cur_inputs, kind, max_samples=300, n_permutations=200, alpha=0.01, seed=0):
    """The drift entry (watch's feature list) of two batches of model
    inputs: at most `max_samples` of each (seeded), embedded by `embed` and
    compared by `mmd_test`."""
    rng = np.random.default_rng(seed)

    def sample(x):
        x = np.asarray(x)
        return x if len(x) <= max_samples else x[np.sort(rng.choice(len(x), max_samples, replace=False))]

    ref, cur = sample(ref_inputs), sample(cur_inputs)
    t = mmd_test(embed(ref, kind), embed(cur, kind), n_permutations, alpha, seed)
    return {"name": "embedding", "kind": f"{kind} embedding (MMD)", "psi": None, "ks": None,
            "mmd2": t["mmd2"], "mmd2_threshold": t["threshold"], "p_value": t["p_value"], "drifted": t["drifted"],
            "n_reference": len(ref), "n_current": len(cur)}
