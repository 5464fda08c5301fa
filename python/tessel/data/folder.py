"""Datasets of files sorted into one folder per class (root/class_x/xxx.png), as
torchvision's DatasetFolder and ImageFolder: decoded on the loader's C++ threads."""
import os

from .files import FileDataset, decoders

__all__ = ["DatasetFolder", "ImageFolder", "AudioFolder", "IMG_EXTENSIONS", "AUDIO_EXTENSIONS", "find_classes",
           "make_dataset"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# What libsndfile reads (docs/audio.md); mp3 needs libsndfile >= 1.1.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".w64")


def find_classes(directory):
    """(sorted class folder names, {name: index})."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"[data.find_classes] no such folder: '{directory}'")
    classes = sorted(e.name for e in os.scandir(directory) if e.is_dir())
    if not classes:
        raise FileNotFoundError(f"[data.find_classes] couldn't find any class folder in '{directory}'")
    return classes, {c: i for i, c in enumerate(classes)}


def _lower_suffixes(extensions):
    if isinstance(extensions, str):
        extensions = (extensions,)
    return tuple(e.lower() for e in extensions)


def make_dataset(directory, class_to_idx=None, extensions=None, is_valid_file=None, allow_empty=False):
    """[(path, class_index)] of the files under each class folder (recursively,
    sorted, following links) that have one of `extensions` (case-insensitive)
    or pass is_valid_file(path). A class without files raises FileNotFoundError
    unless allow_empty."""
    directory = os.path.expanduser(os.fspath(directory))
    if class_to_idx is None:
        _, class_to_idx = find_classes(directory)
    if (extensions is None) == (is_valid_file is None):
        raise ValueError("[data.make_dataset] pass exactly one of extensions and is_valid_file")
    if extensions is not None:
        suffixes = _lower_suffixes(extensions)

        def is_valid_file(path):
            return path.lower().endswith(suffixes)
    samples, found = [], set()
    for name in sorted(class_to_idx):
        index = class_to_idx[name]
        target = os.path.join(directory, name)
        if not os.path.isdir(target):
            continue
        for root, _, files in sorted(os.walk(target, followlinks=True)):
            for f in sorted(files):
                path = os.path.join(root, f)
                if is_valid_file(path):
                    samples.append((path, index))
                    found.add(name)
    empty = sorted(set(class_to_idx) - found)
    if empty and not allow_empty:
        what = f"Supported extensions are: {', '.join(suffixes)}" if extensions is not None else \
            "is_valid_file accepted none"
        raise FileNotFoundError(f"[data.make_dataset] found no valid file for the classes {', '.join(empty)}. "
                                f"{what}")
    return samples


class DatasetFolder(FileDataset):
    """root/class_x/xxx.ext: items (sample, class_index). `loader` names the
    C++ decoder ("image", "audio", "text", "bytes", see ts.data.decoders());
    transform as for FileDataset; target_transform runs on the int class index.
    Attributes: classes, class_to_idx, samples [(path, index)], targets."""

    def __init__(self, root, loader="bytes", extensions=None, transform=None, target_transform=None,
                 is_valid_file=None, allow_empty=False):
        if not isinstance(loader, str):
            raise TypeError(f"[data.{type(self).__name__}] loader must name a C++ decoder (one of "
                            f"ts.data.decoders()), got {type(loader).__name__}: wrap a Python loader in your own "
                            "Dataset instead")
        if loader not in decoders():  # before walking the tree
            raise ValueError(f'[data.{type(self).__name__}] unknown decoder "{loader}" (registered: '
                             f'{", ".join(decoders())})')
        self.root = os.fspath(root)
        self.extensions = None if extensions is None else _lower_suffixes(extensions)
        self.classes, self.class_to_idx = self.find_classes(self.root)
        self.samples = self.make_dataset(self.root, self.class_to_idx, self.extensions, is_valid_file,
                                         allow_empty)
        self.targets = [s[1] for s in self.samples]
        self.loader = loader
        super().__init__([s[0] for s in self.samples], loader, transform, self.targets, target_transform)

    def find_classes(self, directory):
        """Override to change how classes are found: (classes, class_to_idx)."""
        return find_classes(directory)

    @staticmethod
    def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False):
        return make_dataset(directory, class_to_idx, extensions, is_valid_file, allow_empty)

    def __repr__(self):
        return (f"{type(self).__name__}(root='{self.root}', {len(self)} files, {len(self.classes)} classes, "
                f"decode='{self.loader}')")


class ImageFolder(DatasetFolder):
    """root/class_x/xxx.png, decoded as HWC uint8 RGB ("image" decoder) on the
    loader's C++ threads; transform e.g. ts.image.transforms. imgs = samples.
    torchvision's signature; `loader` names a decoder; extensions (keyword)
    defaults to IMG_EXTENSIONS unless is_valid_file is given."""

    def __init__(self, root, transform=None, target_transform=None, loader="image", is_valid_file=None,
                 allow_empty=False, *, extensions=None):
        if extensions is None and is_valid_file is None:
            extensions = IMG_EXTENSIONS
        super().__init__(root, loader, extensions, transform, target_transform, is_valid_file, allow_empty)
        self.imgs = self.samples


class AudioFolder(DatasetFolder):
    """root/class_x/xxx.wav, decoded as float32 [channels, samples] ("audio"
    decoder) on the loader's C++ threads; transform e.g. ts.audio.FixLength,
    MelSpectrogram. extensions defaults to AUDIO_EXTENSIONS."""

    def __init__(self, root, transform=None, target_transform=None, loader="audio", is_valid_file=None,
                 allow_empty=False, *, extensions=None):
        if extensions is None and is_valid_file is None:
            extensions = AUDIO_EXTENSIONS
        super().__init__(root, loader, extensions, transform, target_transform, is_valid_file, allow_empty)
