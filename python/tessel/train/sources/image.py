"""Image class folders (data.kind: image_folder): decoded and transformed on the C++ DataLoader."""
import tessel as ts

from .common import _class_folder, _finish, convert_files, subset


def image_preprocess(cfg):
    im = cfg["data"]["image"]
    c = im["channels"]
    return {"kind": "image", "size": list(im["size"]), "channels": c,
            "mean": list(im["mean"] or [0.5] * c), "std": list(im["std"] or [0.5] * c)}


def image_transform(pre, augment=False):
    """The C++ transform: decoded HWC uint8 -> normalized float [C, H, W]."""
    T = ts.image.transforms
    steps = [T.Resize(tuple(pre["size"]))]
    if augment:
        steps += [T.RandomCrop(tuple(pre["size"]), padding=4, padding_mode="reflect"), T.RandomHorizontalFlip()]
    if pre["channels"] == 1:
        steps.append(T.Grayscale(1))
    steps += [T.ToTensor(), T.Normalize(tuple(pre["mean"]), tuple(pre["std"]))]
    return ts.data.Compose(steps)


def _image_folder(cfg, path):
    from ...config.schema import IMAGE_EXT
    d = cfg["data"]
    classes, samples = _class_folder(path, IMAGE_EXT, "image")
    samples = [samples[i] for i in subset(len(samples), d["limit"], d["seed"])]
    pre = image_preprocess(cfg)
    x, kept, skipped = convert_files([p for p, _ in samples], "image", image_transform(pre), d["on_error"],
                                     d["num_workers"], "image file")
    labels = [classes[samples[i][1]] for i in kept]
    return x, labels, classes, skipped, [samples[i][0] for i in kept]


def load_image_folder(cfg):
    """data.kind: image_folder. With data.image.augment, a DataLoader over the training files
    (random crop and flip on the C++ threads) replaces the training tensors while training."""
    d = cfg["data"]
    path, val_path = d["path"], d["val_path"]
    pre = image_preprocess(cfg)
    x, labels, classes, skipped, files = _image_folder(cfg, path)
    vx = vlabels = None
    if val_path:
        vx, vlabels, _vc, vsk, _ = _image_folder(cfg, val_path)
        skipped += vsk
    data = _finish(cfg, "image", x, labels, pre, vx, vlabels, classes=classes)
    if d["image"]["augment"]:
        tr = getattr(data, "train_index", None)
        files_tr = files if tr is None else [files[i] for i in tr]
        ytr = data.y_train.tolist()
        ds = ts.data.FileDataset(files_tr, decode="image", transform=image_transform(pre, augment=True),
                                 labels=ytr)
        data.train_loader = ts.data.DataLoader(ds, batch_size=cfg["train"]["batch_size"], shuffle=True,
                                               num_workers=d["num_workers"], seed=d["seed"])
    data.skipped = skipped
    data.sources = [path] + ([val_path] if val_path else [])
    return data
