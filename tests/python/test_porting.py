"""Porting promise: typical PyTorch training scripts run with `import tessel as torch`
and no other edit. Each script below is written the way PyTorch users write them
(torch's spellings only: tessel's own names appear nowhere but in the imports), and
checks that it learns: the loss falls and accuracy beats chance by a clear margin,
with fixed seeds. The regression tests after them pin the gaps those scripts found.
"""
import math
import os
import random
import warnings

import numpy as np
import pytest

import tessel as torch
import tessel.audio as audio
import tessel.nn as nn
import tessel.nn.functional as F
import tessel.text
from tessel.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence
from tessel.utils.data import DataLoader, Dataset, TensorDataset, random_split


# ------------------------------------------------------------- (a) small ResNet

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(self, num_classes=4):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.layer1 = nn.Sequential(BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, stride=2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16 * BasicBlock.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.stem(x)
        x = self.layer2(self.layer1(x))
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


def _image_data(n):
    # class c brightens colour channel c % 3 in the top (c < 3) or bottom half
    X = torch.randn(n, 3, 16, 16)
    y = torch.randint(0, 4, (n,))
    for c in range(4):
        idx = (y == c).nonzero().squeeze(1)
        X[idx, c % 3, (c // 3) * 8:(c // 3) * 8 + 8, :] += 1.5
    return X, y


def _evaluate(model, loader, device):
    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = model(inputs)
            _, predicted = torch.max(outputs.data, 1)
            correct += (predicted == targets).sum().item()
            total += targets.size(0)
    return correct / total


def test_resnet_script(tmp_path):
    # 256 training images (8 steps an epoch): with 128 the run depended on the seed (seed 0 failed in
    # PyTorch 2.15 too, 9 of 12 seeds passed there, 6 of 12 here); with 256, 12 of 12 in PyTorch and 24 of
    # 24 here (last loss <= 0.36x the first, accuracy >= 0.67).
    torch.manual_seed(0)
    X, y = _image_data(320)
    train_loader = DataLoader(TensorDataset(X[:256], y[:256]), batch_size=32, shuffle=True, drop_last=True)
    test_loader = DataLoader(TensorDataset(X[256:], y[256:]), batch_size=64, shuffle=False)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = ResNet().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[3], gamma=0.1)
    chance = 1 / 4
    epoch_losses, log = [], []
    for epoch in range(4):
        model.train()
        running_loss = 0.0
        for inputs, targets in train_loader:
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        scheduler.step()
        epoch_losses.append(running_loss / len(train_loader))
        acc = _evaluate(model, test_loader, device)
        log.append(f"epoch {epoch} loss {loss:.4f} acc {100 * acc:.1f}% lr {scheduler.get_last_lr()[0]:.4f}")
    assert epoch_losses[-1] < 0.6 * epoch_losses[0], log
    assert acc > chance + 0.35, log
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.005)

    path = os.path.join(tmp_path, "resnet.pt")
    torch.save(model.state_dict(), path)
    restored = ResNet()
    restored.load_state_dict(torch.load(path, map_location="cpu"))
    restored.eval()
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(X[:8]), restored(X[:8]))

    # the one-cycle variant, stepping the scheduler every batch
    model = ResNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, epochs=1,
                                                    steps_per_epoch=len(train_loader))
    first = None
    for epoch in range(1):
        model.train()
        for inputs, targets in train_loader:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(inputs), targets)
            loss.backward()
            optimizer.step()
            scheduler.step()
            first = loss.item() if first is None else first
    assert loss.item() < first


# ------------------------------------------------------------ (b) character GPT

TEXT = "hello world. the quick brown fox jumps over the lazy dog. " * 12
block_size, n_embd, n_head = 16, 32, 4


class Head(nn.Module):
    def __init__(self, head_size, dropout):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        k = self.key(x)
        q = self.query(x)
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        wei = F.softmax(wei, dim=-1)
        wei = self.dropout(wei)
        return wei @ self.value(x)


class MultiHeadAttention(nn.Module):
    def __init__(self, num_heads, head_size, dropout):
        super().__init__()
        self.heads = nn.ModuleList([Head(head_size, dropout) for _ in range(num_heads)])
        self.proj = nn.Linear(head_size * num_heads, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        out = torch.cat([h(x) for h in self.heads], dim=-1)
        return self.dropout(self.proj(out))


class CausalSelfAttention(nn.Module):
    """The fused-qkv form: one projection, split, per-head view/transpose."""

    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size))
                             .view(1, 1, block_size, block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(n_embd, dim=2)
        k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
        q = q.view(B, T, n_head, C // n_head).transpose(1, 2)
        v = v.view(B, T, n_head, C // n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self, kind, dropout):
        super().__init__()
        if kind == "heads":
            self.sa = MultiHeadAttention(n_head, n_embd // n_head, dropout)
        elif kind == "fused":
            self.sa = CausalSelfAttention()
        else:
            self.sa = None
            self.mha = nn.MultiheadAttention(n_embd, n_head, dropout=dropout, batch_first=True)
        self.ffwd = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd),
                                  nn.Dropout(dropout))
        self.ln1 = nn.LayerNorm(n_embd)
        self.ln2 = nn.LayerNorm(n_embd)

    def forward(self, x):
        h = self.ln1(x)
        if self.sa is not None:
            x = x + self.sa(h)
        else:
            T = x.size(1)
            mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
            attn_out, _ = self.mha(h, h, h, attn_mask=mask, need_weights=False)
            x = x + attn_out
        return x + self.ffwd(self.ln2(x))


class GPTLanguageModel(nn.Module):
    def __init__(self, vocab_size, dropout=0.1):
        super().__init__()
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.position_embedding_table = nn.Embedding(block_size, n_embd)
        self.blocks = nn.Sequential(*[Block(k, dropout) for k in ("heads", "fused", "mha")])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size)
        self.lm_head.weight = self.token_embedding_table.weight  # weight tying
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)
        pos_emb = self.position_embedding_table(torch.arange(T, device=idx.device))
        x = self.ln_f(self.blocks(tok_emb + pos_emb))
        logits = self.lm_head(x)
        if targets is None:
            return logits, None
        B, T, C = logits.shape
        return logits, F.cross_entropy(logits.view(B * T, C), targets.view(B * T))

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
        for _ in range(max_new_tokens):
            idx_cond = idx[:, -block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


def test_char_gpt_script():
    torch.manual_seed(1337)
    chars = sorted(list(set(TEXT)))
    vocab_size = len(chars)
    stoi = {ch: i for i, ch in enumerate(chars)}
    itos = {i: ch for i, ch in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in TEXT], dtype=torch.long)
    n = int(0.9 * len(data))
    train_data, val_data = data[:n], data[n:]

    def get_batch(split, batch_size=8):
        d = train_data if split == "train" else val_data
        ix = torch.randint(len(d) - block_size, (batch_size,))
        x = torch.stack([d[i:i + block_size] for i in ix])
        y = torch.stack([d[i + 1:i + block_size + 1] for i in ix])
        return x, y

    model = GPTLanguageModel(vocab_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.1)

    @torch.no_grad()
    def estimate_loss(eval_iters=4):
        out = {}
        model.eval()
        for split in ["train", "val"]:
            losses = torch.zeros(eval_iters)
            for k in range(eval_iters):
                X, Y = get_batch(split)
                _, loss = model(X, Y)
                losses[k] = loss.item()
            out[split] = losses.mean()
        model.train()
        return out

    before = estimate_loss()
    assert before["train"].item() == pytest.approx(math.log(vocab_size), abs=0.2)  # small init: uniform guesses
    for _ in range(30):
        xb, yb = get_batch("train")
        _, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    after = estimate_loss()
    summary = f"train {before['train']:.4f} -> {after['train']:.4f}, val {after['val']:.4f}"
    assert after["train"] < 0.75 * before["train"], summary
    assert after["val"] < 0.75 * before["val"], summary

    context = torch.zeros((1, 1), dtype=torch.long)
    out = model.generate(context, max_new_tokens=12)
    assert out.shape == (1, 13) and out.dtype == torch.long
    text = "".join([itos[i] for i in out[0].tolist()])
    assert len(text) == 13 and set(text) <= set(chars)
    assert model.generate(context, max_new_tokens=5, top_k=3).shape == (1, 6)


# ------------------------------------------------------- (c) LSTM classifier

VOCAB, PAD = 20, 0


class SeqDataset(Dataset):
    """Label 1 when token 1 is planted in the sequence, label 0 when token 2 is."""

    def __init__(self, n, rng):
        self.items = []
        for _ in range(n):
            L = rng.randint(3, 12)
            seq = torch.randint(3, VOCAB, (L,))
            label = rng.randint(0, 1)
            pos = torch.randperm(L)[:rng.randint(1, max(1, L // 2))]
            seq[pos] = 1 if label == 1 else 2
            self.items.append((seq, label))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        return self.items[idx]


def collate_fn(batch):
    seqs, labels = zip(*batch)
    lengths = torch.tensor([len(s) for s in seqs])
    padded = pad_sequence(seqs, batch_first=True, padding_value=PAD)
    return padded, lengths, torch.tensor(labels)


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_dim, num_classes, num_layers=2, bidirectional=False):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(embed_dim, hidden_dim, num_layers=num_layers, batch_first=True, dropout=0.2,
                            bidirectional=bidirectional)
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(hidden_dim * (2 if bidirectional else 1), num_classes)
        self.bidirectional = bidirectional

    def forward(self, x, lengths):
        emb = self.dropout(self.embedding(x))
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, (h, c) = self.lstm(packed)
        if self.bidirectional:
            hidden = torch.cat((h[-2, :, :], h[-1, :, :]), dim=1)
        else:
            hidden = h[-1]
        out, out_lengths = pad_packed_sequence(packed_out, batch_first=True)
        assert out.shape[:2] == x.shape and (out_lengths == lengths).all()
        return self.fc(self.dropout(hidden))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_classifier_script(bidirectional):
    torch.manual_seed(0)
    rng = random.Random(0)
    train_loader = DataLoader(SeqDataset(192, rng), batch_size=32, shuffle=True, collate_fn=collate_fn)
    test_loader = DataLoader(SeqDataset(96, rng), batch_size=64, collate_fn=collate_fn)
    model = LSTMClassifier(VOCAB, 16, 24, 2, bidirectional=bidirectional)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    criterion = nn.CrossEntropyLoss()
    history = []
    for epoch in range(4):
        model.train()
        total = 0.0
        for xb, lb, yb in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(xb, lb), yb)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
            optimizer.step()
            total += loss.item() * xb.size(0)
        history.append(total / len(train_loader.dataset))
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, lb, yb in test_loader:
            preds = torch.argmax(model(xb, lb), dim=1)
            correct += (preds == yb).sum().item()
    accuracy = correct / len(test_loader.dataset)
    assert history[-1] < 0.5 * history[0], history
    assert accuracy > 0.85, (history, accuracy)


def test_recurrent_cells_script():
    torch.manual_seed(0)
    gru = nn.GRU(input_size=4, hidden_size=8, batch_first=True)
    out, hn = gru(torch.randn(3, 5, 4), torch.zeros(1, 3, 8))
    assert out.shape == (3, 5, 8) and hn.shape == (1, 3, 8)
    cell = nn.LSTMCell(4, 8)
    hx, cx = torch.zeros(3, 8), torch.zeros(3, 8)
    for _ in range(5):
        hx, cx = cell(torch.randn(3, 4), (hx, cx))
    assert hx.shape == (3, 8)
    o, h = nn.RNN(4, 8, nonlinearity="tanh")(torch.randn(5, 3, 4))
    assert o.shape == (5, 3, 8) and h.shape == (1, 3, 8)


# ------------------------------------------------ (d) audio on log-mel spectra

SR = 8000


class ToneDataset(Dataset):
    """Three classes: a low tone, a high tone, noise; random amplitude, pitch jitter and noise."""

    def __init__(self, n, transform=None):
        self.n = n
        self.transform = transform
        g = torch.Generator().manual_seed(1)
        self.labels = torch.randint(0, 3, (n,), generator=g)
        self.amp = torch.rand(n, generator=g) * 0.5 + 0.5
        self.freq_jitter = torch.rand(n, generator=g) * 100

    def __len__(self):
        return self.n

    def __getitem__(self, idx):
        t = torch.arange(SR // 4) / SR
        label = int(self.labels[idx])
        if label == 0:
            wav = torch.sin(2 * math.pi * (300 + self.freq_jitter[idx]) * t)
        elif label == 1:
            wav = torch.sin(2 * math.pi * (2000 + self.freq_jitter[idx]) * t)
        else:
            wav = torch.randn(t.shape) * 0.3
        wav = self.amp[idx] * wav + 0.05 * torch.randn_like(wav)
        wav = wav.unsqueeze(0)  # [1, samples]
        if self.transform is not None:
            wav = self.transform(wav)
        return wav, label


class AudioCNN(nn.Module):
    def __init__(self, n_classes=3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(16, n_classes))

    def forward(self, x):
        x = (x - x.mean(dim=(2, 3), keepdim=True)) / (x.std(dim=(2, 3), keepdim=True) + 1e-5)
        return self.classifier(self.features(x))


def test_audio_classifier_script():
    torch.manual_seed(0)
    mel = audio.MelSpectrogram(sample_rate=SR, n_fft=256, hop_length=128, n_mels=32)

    def to_logmel(wav):
        return audio.power_to_db(mel(wav))  # [1, n_mels, frames]

    ds = ToneDataset(150, transform=to_logmel)
    train_ds, val_ds = random_split(ds, [105, 45], generator=torch.Generator().manual_seed(42))
    train_loader = DataLoader(train_ds, batch_size=15, shuffle=True, num_workers=0)
    val_loader = DataLoader(val_ds, batch_size=45)
    model = AudioCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.7)
    losses = []
    for epoch in range(3):
        model.train()
        total = 0.0
        for spec, label in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(spec), label)
            loss.backward()
            optimizer.step()
            total += loss.item()
        scheduler.step()
        losses.append(total / len(train_loader))
    model.eval()
    correct = 0
    with torch.no_grad():
        for spec, label in val_loader:
            correct += (model(spec).argmax(dim=-1) == label).sum().item()
    accuracy = correct / len(val_ds)
    assert losses[-1] < 0.8 * losses[0], losses
    assert accuracy > 1 / 3 + 0.4, (losses, accuracy)

    # the transform inside the model, on a batch of waveforms [B, 1, samples]
    class WaveModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.melspec = audio.MelSpectrogram(sample_rate=SR, n_fft=256, hop_length=128, n_mels=32)
            self.cnn = model

        def forward(self, wav):
            with torch.no_grad():
                x = audio.power_to_db(self.melspec(wav))
            return self.cnn(x)

    raw = ToneDataset(150)
    wavs = torch.stack([raw[val_ds.indices[i]][0] for i in range(8)])
    labels = torch.tensor([raw[val_ds.indices[i]][1] for i in range(8)])
    wave_model = WaveModel().eval()
    with torch.no_grad():
        logits = wave_model(wavs)
    assert logits.shape == (8, 3)
    # per-item log-mel (the dB floor is per item) gives the same predictions as the batch
    assert (logits.argmax(1) == labels).float().mean().item() > 0.6


# ---------------------------------------- (e) text classifier with a tokenizer

POS = ["great", "wonderful", "excellent", "loved", "amazing", "fantastic", "enjoyable"]
NEG = ["terrible", "awful", "boring", "hated", "horrible", "disappointing", "dull"]
FILL = ["the", "movie", "film", "was", "plot", "acting", "really", "quite", "and", "story", "i", "it", "a"]


def _reviews(n, rng):
    rows = []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = [rng.choice(FILL) for _ in range(rng.randint(4, 10))]
        for _ in range(rng.randint(1, 2)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(POS if label else NEG))
        rows.append((" ".join(words).capitalize() + rng.choice([".", "!", "..."]), label))
    return rows


class ReviewDataset(Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


class TextClassificationModel(nn.Module):
    def __init__(self, vocab_size, embed_dim, num_class):
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, sparse=False, mode="mean")
        self.fc = nn.Linear(embed_dim, num_class)
        initrange = 0.5
        self.embedding.weight.data.uniform_(-initrange, initrange)
        self.fc.weight.data.uniform_(-initrange, initrange)
        self.fc.bias.data.zero_()

    def forward(self, text, offsets):
        return self.fc(self.embedding(text, offsets))


class MeanPoolClassifier(nn.Module):
    def __init__(self, vocab, dim, pad_id):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim, padding_idx=pad_id)
        self.head = nn.Linear(dim, 2)

    def forward(self, input_ids, attention_mask, **kwargs):
        h = self.emb(input_ids)
        m = attention_mask.unsqueeze(-1).float()
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return self.head(pooled)


@pytest.fixture(scope="module")
def review_tokenizer(tmp_path_factory):
    hf_tokenizers = pytest.importorskip("tokenizers", reason="HF `tokenizers` trains the vocabulary")
    rows = _reviews(400, random.Random(0))
    hf = hf_tokenizers.BertWordPieceTokenizer(lowercase=True)
    hf.train_from_iterator([t for t, _ in rows], vocab_size=200, min_frequency=1)
    path = tmp_path_factory.mktemp("reviews") / "tokenizer.json"
    hf.save(str(path))
    return tessel.text.Tokenizer.from_file(str(path)), rows


def test_text_classifier_script(review_tokenizer):
    tokenizer, rows = review_tokenizer
    torch.manual_seed(0)

    def collate_batch(batch):
        # the torchtext tutorial's layout: all ids concatenated, plus each text's offset
        label_list, text_list, offsets = [], [], [0]
        for text, label in batch:
            label_list.append(label)
            ids = torch.tensor(tokenizer.encode(text, add_special_tokens=False).ids, dtype=torch.int64)
            text_list.append(ids)
            offsets.append(ids.size(0))
        offsets = torch.tensor(offsets[:-1]).cumsum(dim=0)
        return torch.tensor(label_list, dtype=torch.int64), torch.cat(text_list), offsets

    train_rows, test_rows = rows[:320], rows[320:]
    train_dl = DataLoader(ReviewDataset(train_rows), batch_size=16, shuffle=True, collate_fn=collate_batch)
    test_dl = DataLoader(ReviewDataset(test_rows), batch_size=16, shuffle=False, collate_fn=collate_batch)
    model = TextClassificationModel(tokenizer.vocab_size, 16, 2)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=5.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.1)

    def evaluate(dataloader):
        model.eval()
        total_acc, total_count = 0, 0
        with torch.no_grad():
            for label, text, offsets in dataloader:
                predicted_label = model(text, offsets)
                total_acc += (predicted_label.argmax(1) == label).sum().item()
                total_count += label.size(0)
        return total_acc / total_count

    losses = []
    for epoch in range(3):
        model.train()
        total_loss = 0.0
        for label, text, offsets in train_dl:
            optimizer.zero_grad()
            loss = criterion(model(text, offsets), label)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            optimizer.step()
            total_loss += loss.item()
        losses.append(total_loss / len(train_dl))
        scheduler.step()
    accuracy = evaluate(test_dl)
    assert losses[-1] < 0.85 * losses[0], losses
    assert accuracy > 0.8, (losses, accuracy)

    # transformers-style batches into a mean-pooled embedding
    mp = MeanPoolClassifier(tokenizer.vocab_size, 16, tokenizer.token_to_id("[PAD]"))
    opt = torch.optim.Adam(mp.parameters(), lr=1e-2)
    texts = [t for t, _ in train_rows]
    labels = torch.tensor([lab for _, lab in train_rows])
    first = None
    for step in range(40):
        idx = torch.randint(0, len(texts), (32,))
        batch = tokenizer([texts[i] for i in idx.tolist()], padding=True, truncation=True, max_length=24,
                          return_tensors="pt")
        loss = F.cross_entropy(mp(**batch), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    with torch.no_grad():
        b = tokenizer([t for t, _ in test_rows], padding="max_length", truncation=True, max_length=24)
        preds = mp(b["input_ids"], b["attention_mask"]).argmax(-1)
    accuracy = (preds == torch.tensor([lab for _, lab in test_rows])).float().mean().item()
    assert loss.item() < 0.8 * first
    assert accuracy > 0.75


# ------------------------------------------------- regression tests for the gaps

def N(t):
    return np.asarray(t.tolist(), dtype=np.float64)


def test_scalar_tensor_formats_like_its_item():
    loss = torch.tensor(3.14159)
    assert f"{loss:.3f}" == "3.142" and f"{torch.tensor(7):5d}" == "    7"
    assert "{}".format(torch.tensor([1, 2]).sum()) == "3"  # as PyTorch: a 0-d tensor formats as its item
    assert f"{torch.tensor([1.5])}" == str(torch.tensor([1.5]))
    with pytest.raises(TypeError):
        f"{torch.tensor([1.5]):.2f}"  # PyTorch formats 0-d tensors only


def test_add_sub_alpha():
    a, b = np.array([1.5, -2.0, 4.0]), np.array([0.5, 3.0, -1.0])
    x, y = torch.tensor(a), torch.tensor(b)
    assert N(torch.add(x, y, alpha=2)).tolist() == (a + 2 * b).tolist()
    assert N(torch.sub(x, y, alpha=-3)).tolist() == (a + 3 * b).tolist()
    assert N(x.add(y, alpha=0.5)).tolist() == (a + 0.5 * b).tolist()
    assert N(x.sub(2, alpha=2)).tolist() == (a - 4).tolist()
    assert N(torch.subtract(x, y, alpha=2)).tolist() == (a - 2 * b).tolist()
    # the product is taken in the result's dtype: float64 keeps alpha=0.1 exact to float64
    z = torch.tensor(a, dtype=torch.float64)
    z.add_(torch.tensor(b, dtype=torch.float32), alpha=-0.1)
    assert N(z).tolist() == (a - 0.1 * b).tolist()
    z.sub_(torch.tensor(b, dtype=torch.float64), alpha=2)
    assert N(z).tolist() == (a - 0.1 * b - 2 * b).tolist()
    i = torch.tensor([1, 2])
    assert torch.add(i, torch.tensor([3, 4]), alpha=3).tolist() == [10, 14]
    with pytest.raises(TypeError, match="alpha=0.5 must be an integer"):
        torch.add(i, i, alpha=0.5)
    with pytest.raises(TypeError, match="alpha must be a number"):
        torch.add(x, y, alpha=torch.tensor(2.0))
    with pytest.raises(TypeError):
        torch.add(x, y, 2)  # alpha is keyword-only, as in PyTorch


def test_add_alpha_in_a_hand_written_sgd_step():
    w = nn.Parameter(torch.tensor([1.0, -1.0]))
    (w * torch.tensor([2.0, 3.0])).sum().backward()
    with torch.no_grad():
        w.data.add_(w.grad, alpha=-0.1)
    assert N(w).tolist() == pytest.approx([0.8, -1.3])


def test_max_min_of_two_tensors():
    a, b = np.array([1.0, 5.0, -2.0]), np.array([3.0, 2.0, -2.5])
    x, y = torch.tensor(a), torch.tensor(b)
    assert N(torch.max(x, y)).tolist() == np.maximum(a, b).tolist()
    assert N(torch.min(x, y)).tolist() == np.minimum(a, b).tolist()
    assert N(x.max(y)).tolist() == np.maximum(a, b).tolist() and N(x.min(y)).tolist() == np.minimum(a, b).tolist()
    m = torch.tensor([[1.0, 5.0], [7.0, 0.0]])
    assert torch.max(m, 1)[1].tolist() == [1, 0] and torch.min(m, dim=0, keepdim=True).values.tolist() == [[1, 0]]
    assert torch.max(m).item() == 7.0


def _int_div(a, b, mode):
    q = a / b
    return math.floor(q) if mode == "floor" else math.trunc(q)


@pytest.mark.parametrize("mode", ["trunc", "floor"])
def test_div_rounding_mode(mode):
    a = [7, -7, 7, -7, 0, 5, 9]
    b = [2, 2, -2, -2, 3, -5, 3]
    got = torch.div(torch.tensor(a), torch.tensor(b), rounding_mode=mode)
    assert got.dtype == torch.int64 and got.tolist() == [_int_div(p, q, mode) for p, q in zip(a, b)]
    assert torch.tensor(a).div(-2, rounding_mode=mode).tolist() == [_int_div(p, -2, mode) for p in a]
    f = np.array([7.0, -7.5, 7.5, -7.0, 0.25])
    g = np.array([2.0, 2.0, -2.0, -2.0, 0.5])
    ref = np.floor(f / g) if mode == "floor" else np.trunc(f / g)
    assert N(torch.divide(torch.tensor(f), torch.tensor(g), rounding_mode=mode)).tolist() == ref.tolist()
    # an integer tensor divided by a float gives a rounded float, as in PyTorch
    r = torch.div(torch.tensor([7, -7]), 2.5, rounding_mode=mode)
    assert r.dtype == torch.float32 and r.tolist() == [_int_div(7, 2.5, mode), _int_div(-7, 2.5, mode)]
    t = torch.tensor([7, -7])
    assert t.div_(2, rounding_mode=mode) is t and t.tolist() == [_int_div(7, 2, mode), _int_div(-7, 2, mode)]


def test_div_plain_and_bad_rounding_mode():
    assert torch.div(torch.tensor([7, -7]), 2).tolist() == [3.5, -3.5]
    assert torch.true_divide(torch.tensor([7]), 2).tolist() == [3.5]
    assert torch.multiply(torch.tensor([7]), 2).tolist() == [14]
    with pytest.raises(ValueError, match="rounding_mode must be None, 'trunc' or 'floor', got 'round'"):
        torch.div(torch.tensor([1.0]), 2, rounding_mode="round")


def test_fmod_matches_numpy():
    a, b = np.array([-7.0, 7.0, -7.5, 5.0]), np.array([2.0, -3.0, 2.0, 2.5])
    assert N(torch.fmod(torch.tensor(a), torch.tensor(b))).tolist() == np.fmod(a, b).tolist()
    ai, bi = np.array([-7, 7, -8, 9]), np.array([2, -3, 3, 3])
    assert torch.fmod(torch.tensor(ai), torch.tensor(bi)).tolist() == np.fmod(ai, bi).tolist()
    assert torch.tensor(ai).fmod(2).tolist() == np.fmod(ai, 2).tolist()


@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_finfo_matches_numpy(name):
    fi, ref = torch.finfo(getattr(torch, name)), np.finfo(name)
    assert (fi.bits, fi.eps, fi.max, fi.min, fi.tiny) == (ref.bits, float(ref.eps), float(ref.max), float(ref.min),
                                                          float(ref.tiny))
    assert fi.smallest_normal == fi.tiny and fi.dtype == name
    assert fi.resolution == 10.0 ** -ref.precision


def test_finfo_bfloat16_default_and_errors():
    # bfloat16 values as torch.finfo(torch.bfloat16) reports them (PyTorch reference)
    fi = torch.finfo(torch.bfloat16)
    assert (fi.bits, fi.eps, fi.max, fi.tiny, fi.resolution) == (16, 0.0078125, 3.3895313892515355e38,
                                                                 1.1754943508222875e-38, 0.01)
    assert torch.finfo().dtype == "float32" and torch.finfo(torch.complex128).eps == np.finfo(np.float64).eps
    assert torch.finfo(torch.float32).min == -np.finfo(np.float32).max  # masks: fill with finfo(dtype).min
    with pytest.raises(TypeError, match="not a floating-point dtype"):
        torch.finfo(torch.int32)
    with pytest.raises(TypeError, match="not an integer dtype"):
        torch.iinfo(torch.float32)


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_matches_numpy(name):
    ii, ref = torch.iinfo(getattr(torch, name)), np.iinfo(name)
    assert (ii.bits, ii.min, ii.max, ii.dtype) == (ref.bits, ref.min, ref.max, name)


def test_std_mean_var_mean():
    a = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]])
    x = torch.tensor(a, dtype=torch.float64)
    s, m = torch.std_mean(x, dim=1)
    assert N(s).tolist() == pytest.approx(a.std(1, ddof=1).tolist()) and N(m).tolist() == a.mean(1).tolist()
    v, m = torch.var_mean(x, 0, unbiased=False)
    assert N(v).tolist() == pytest.approx(a.var(0).tolist()) and N(m).tolist() == a.mean(0).tolist()
    v, m = torch.var_mean(x)
    assert v.item() == pytest.approx(a.var(ddof=1)) and m.item() == pytest.approx(a.mean())
    s, m = torch.std_mean(x, dim=(0, 1), keepdim=True, correction=0)
    assert s.shape == (1, 1) and s.item() == pytest.approx(a.std())


def test_std_mean_var_mean_positional_unbiased():
    # PyTorch's (input, unbiased) overload: a bool in dim's place is `unbiased`, over all dims
    a = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]])
    x = torch.tensor(a, dtype=torch.float64)
    s, m = torch.std_mean(x, False)
    assert s.item() == pytest.approx(a.std()) and m.item() == pytest.approx(a.mean())
    v, m = torch.var_mean(x, True)
    assert v.item() == pytest.approx(a.var(ddof=1)) and m.item() == pytest.approx(a.mean())


def test_stacking_helpers_match_numpy():
    a, b = np.array([1, 2]), np.array([3, 4])
    m, k = np.ones((2, 1)), np.zeros((2, 2))
    T = torch.tensor
    assert torch.hstack([T(a), T([3])]).tolist() == np.hstack([a, [3]]).tolist()
    assert N(torch.hstack([T(m), T(k)])).tolist() == np.hstack([m, k]).tolist()
    assert torch.vstack([T(a), T(b)]).tolist() == np.vstack([a, b]).tolist()
    assert torch.row_stack((T(a), T(b))).tolist() == np.vstack([a, b]).tolist()
    assert torch.column_stack([T(a), T([[3, 4], [5, 6]])]).tolist() == np.column_stack([a, [[3, 4], [5, 6]]]).tolist()
    assert torch.dstack([T(a), T(b)]).tolist() == np.dstack([a, b]).tolist()
    shapes = [np.atleast_3d(np.ones(s)).shape for s in [(), (3,), (2, 3), (1, 2, 3, 4)]]
    assert [tuple(t.shape) for t in torch.atleast_3d(T(1.0), torch.ones(3), torch.ones(2, 3),
                                                     torch.ones(1, 2, 3, 4))] == shapes
    assert [tuple(t.shape) for t in torch.atleast_2d([T(1.0), torch.ones(3)])] == [(1, 1), (1, 3)]
    assert torch.atleast_1d(T(1.0)).shape == (1,)
    with pytest.raises(TypeError, match="list or tuple of tensors"):
        torch.hstack(T(a))


def test_small_functional_forms():
    a = np.arange(12.0).reshape(3, 4)
    assert torch.trace(torch.tensor(a)).item() == np.trace(a) and torch.tensor(a).trace().item() == np.trace(a)
    with pytest.raises(ValueError, match="2-d"):
        torch.trace(torch.ones(3))
    assert torch.t(torch.ones(2, 3)).shape == (3, 2) and torch.clone(torch.ones(2)).tolist() == [1, 1]
    # torch.equal's one bool is ts.array_equal (and the method); ts.equal is the array API's elementwise one
    assert torch.array_equal(torch.tensor([1, 2]), torch.tensor([1, 2])) and torch.tensor([1.0]).equal(torch.tensor([1]))
    assert not torch.array_equal(torch.tensor([1, 2]), torch.tensor([1, 3]))
    assert not torch.array_equal(torch.tensor([1, 2]), torch.tensor([[1, 2]]))  # shapes must match, no broadcasting
    assert not torch.array_equal(torch.tensor([float("nan")]), torch.tensor([float("nan")]))
    assert torch.equal(torch.tensor([1, 2]), torch.tensor([1, 3])).tolist() == [True, False]
    with pytest.raises(ValueError):  # a port that kept torch.equal fails loudly
        bool(torch.equal(torch.tensor([1, 2]), torch.tensor([1, 2])))
    r = torch.randint_like(torch.ones(200, dtype=torch.int32), 5, 7)
    assert r.dtype == torch.int32 and set(r.tolist()) == {5, 6}
    assert set(torch.randint_like(torch.ones(200), 3).tolist()) == {0.0, 1.0, 2.0}
    x1, x2 = np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    ref = np.linalg.norm(x1 - x2 + 1e-6, axis=-1)
    assert N(torch.pairwise_distance(torch.tensor(x1), torch.tensor(x2))).tolist() == pytest.approx(ref.tolist())
    ref1 = np.abs(x1 - x2 + 1e-6).sum(-1, keepdims=True)
    np.testing.assert_allclose(N(torch.pairwise_distance(torch.tensor(x1), torch.tensor(x2), p=1, keepdim=True)),
                               ref1, rtol=1e-6)
    cos = (x1 * x2).sum(1) / (np.linalg.norm(x1, axis=1) * np.linalg.norm(x2, axis=1))
    assert N(torch.cosine_similarity(torch.tensor(x1), torch.tensor(x2))).tolist() == pytest.approx(cos.tolist())


def test_legacy_tensor_types():
    assert torch.FloatTensor([1, 2]).dtype == torch.float32 and torch.LongTensor([1, 2]).tolist() == [1, 2]
    assert torch.FloatTensor(2, 3).shape == (2, 3) and torch.ByteTensor([1]).dtype == torch.uint8
    assert torch.Tensor([1, 2, 3]).dtype == torch.float32 and torch.Tensor([1, 2, 3]).tolist() == [1, 2, 3]
    assert torch.Tensor(2, 3).shape == (2, 3) and torch.Tensor().shape == (0,)
    assert torch.Tensor(torch.Size([2, 1])).shape == (2, 1)
    assert torch.Tensor(np.array([1.5, 2.5])).tolist() == [1.5, 2.5]
    assert isinstance(torch.tensor([1.0]), torch.FloatTensor) and not isinstance(torch.tensor([1]), torch.FloatTensor)
    assert isinstance(torch.tensor([1]), torch.LongTensor)
    x = torch.tensor([1.5, 2.5])
    assert x.type() == "tessel.FloatTensor" and torch.tensor([1]).type() == "tessel.LongTensor"
    assert x.type(torch.LongTensor).tolist() == [1, 2] and x.type(torch.float64).dtype == torch.float64
    assert x.type("torch.IntTensor").dtype == torch.int32 and x.type("tessel.DoubleTensor").dtype == torch.float64
    with pytest.raises(ValueError, match="unknown tensor type"):
        x.type("torch.QuaternionTensor")
    with pytest.raises(TypeError):
        torch.Tensor("abc")
    # nn.Parameter still builds on the one-tensor constructor
    p = nn.Parameter(torch.ones(2))
    assert isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf


def test_device_queries_on_cpu_tensors():
    x = torch.ones(2)
    assert x.is_cuda is False and x.is_cpu and x.get_device() == -1 and x.ndimension() == 1
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError):
            x.cuda()
    torch.cuda.manual_seed(0)
    torch.cuda.manual_seed_all(0)  # a no-op without CUDA, as in PyTorch
    torch.cuda.empty_cache()
    # version.cuda is the toolkit of the build ("13.0"), None only in a build without CUDA
    assert (torch.version.cuda is None) is (not torch.backends.cuda.is_built())
    assert torch.version.__version__ == torch.__version__


def test_compile_and_backend_switches():
    model = nn.Linear(2, 2)
    assert torch.compile(model) is model
    assert torch.compile(mode="reduce-overhead")(model) is model

    @torch.compile
    def f(x):
        return x * 2

    assert f(torch.ones(1)).tolist() == [2.0]
    with pytest.raises(ValueError, match="unknown mode"):
        torch.compile(model, mode="fastest")
    with pytest.raises(TypeError, match="callable"):
        torch.compile(3)
    torch.set_float32_matmul_precision("high")
    assert torch.get_float32_matmul_precision() == "high"
    torch.set_float32_matmul_precision("highest")
    with pytest.raises(ValueError, match="'highest', 'high' or 'medium'"):
        torch.set_float32_matmul_precision("low")
    torch.use_deterministic_algorithms(True)
    assert torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)


def test_linalg_norms_match_numpy():
    a = np.array([[3.0, -4.0, 1.0], [1.0, 2.0, -7.0]])
    A = torch.tensor(a, dtype=torch.float64)
    L = torch.linalg
    assert L.norm(A).item() == pytest.approx(np.linalg.norm(a))
    assert N(L.norm(A, dim=1)).tolist() == pytest.approx(np.linalg.norm(a, axis=1).tolist())
    for ord in (1, -1, math.inf, -math.inf, "fro"):
        assert L.norm(A, ord=ord).item() == pytest.approx(np.linalg.norm(a, ord=ord)), ord
        assert L.matrix_norm(A, ord=ord).item() == pytest.approx(np.linalg.norm(a, ord=ord)), ord
        assert L.matrix_norm(A, ord=ord, dim=(1, 0)).item() == pytest.approx(np.linalg.norm(a.T, ord=ord)), ord
    assert L.matrix_norm(A, ord=1, keepdim=True).shape == (1, 1)
    batch = torch.stack([A, 2 * A])
    assert N(L.matrix_norm(batch, ord=math.inf)).tolist() == pytest.approx(
        [np.linalg.norm(a, ord=np.inf), np.linalg.norm(2 * a, ord=np.inf)])
    assert N(L.norm(A, ord=3, dim=0)).tolist() == pytest.approx(np.linalg.norm(a, ord=3, axis=0).tolist())
    assert L.vector_norm(A, ord=0).item() == 6 and L.vector_norm(A, ord=math.inf, keepdim=True).shape == (1, 1)
    assert L.vector_norm(A, ord=1).item() == np.abs(a).sum()
    assert L.matrix_norm(A, ord="nuc").item() == pytest.approx(np.linalg.norm(a, ord="nuc"))
    assert L.matrix_norm(A, ord=2).item() == pytest.approx(np.linalg.norm(a, ord=2))
    with pytest.raises(AttributeError):
        L.not_a_function
    with pytest.raises(ValueError, match="1-d or 2-d"):
        L.norm(torch.ones(2, 2, 2), ord=1)


def test_linalg_matrix_power_and_products():
    m = np.array([[1.0, 1.0], [1.0, 0.0]])
    for n in (0, 1, 2, 5, 10):
        assert N(torch.linalg.matrix_power(torch.tensor(m), n)).tolist() == np.linalg.matrix_power(m, n).tolist()
    b = np.stack([m, np.diag([2.0, 1.0])])
    assert N(torch.linalg.matrix_power(torch.tensor(b), 3)).tolist() == np.linalg.matrix_power(b, 3).tolist()
    np.testing.assert_allclose(N(torch.linalg.matrix_power(torch.tensor(m), -1)), np.linalg.inv(m), atol=1e-12)
    with pytest.raises(ValueError, match="square"):
        torch.linalg.matrix_power(torch.ones(2, 3), 2)
    x, y = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, -1.0])
    assert N(torch.linalg.vecdot(torch.tensor(x), torch.tensor(y))).tolist() == (x @ y).tolist()
    v, w = np.array([1.0, 2.0]), np.array([2.0, 3.0])
    got = torch.linalg.multi_dot([torch.tensor(v), torch.tensor(x), torch.tensor(w)])
    assert got.item() == v @ x @ w


def test_softmax_without_dim_follows_pytorch():
    x = torch.arange(24.0).reshape(2, 3, 4)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        y = F.softmax(x)
    assert torch.allclose(y, F.softmax(x, dim=0))  # 3-d: dim 0, as PyTorch's deprecated rule
    with pytest.warns(UserWarning, match="log_softmax"):
        assert torch.allclose(F.log_softmax(x[0]), F.log_softmax(x[0], dim=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.softmax(x, dim=-1)


def test_glu_matches_numpy():
    a = np.arange(8.0).reshape(2, 4) / 4
    ref = a[:, :2] / (1 + np.exp(-a[:, 2:]))
    np.testing.assert_allclose(N(F.glu(torch.tensor(a, dtype=torch.float64))), ref, rtol=1e-12)
    np.testing.assert_allclose(N(F.glu(torch.tensor(a.T, dtype=torch.float64), dim=0)), ref.T, rtol=1e-12)
    with pytest.raises(ValueError, match="even size"):
        F.glu(torch.ones(3))


@pytest.mark.parametrize("make", [
    lambda: nn.ReLU(inplace=True), lambda: nn.ReLU6(inplace=True), lambda: nn.LeakyReLU(0.2, inplace=True),
    lambda: nn.ELU(inplace=True), lambda: nn.Hardtanh(-0.5, 0.5, inplace=True), lambda: nn.Hardswish(inplace=True),
    lambda: nn.Hardsigmoid(inplace=True), lambda: nn.Mish(inplace=True), lambda: nn.SiLU(inplace=True),
    lambda: nn.Dropout(0.5, inplace=True), lambda: nn.Dropout2d(0.5, inplace=True),
], ids=["relu", "relu6", "leaky_relu", "elu", "hardtanh", "hardswish", "hardsigmoid", "mish", "silu", "dropout",
        "dropout2d"])
def test_inplace_activation_on_an_intermediate_backpropagates(make):
    # GAN/MobileNet style: nn.LeakyReLU(0.2, inplace=True) after a layer; the
    # in-place form must give the out-of-place values and gradients.
    m = make()
    weights = torch.arange(24.0).reshape(2, 3, 4) / 10 - 1
    results = []
    for inplace in (True, False):
        m.inplace = inplace
        torch.manual_seed(0)
        x = torch.randn(2, 3, 4, requires_grad=True)
        y = x * 2
        z = m(y)
        assert (z is y) == inplace
        (z * weights).sum().backward()
        results.append((z.detach(), x.grad))
    assert torch.array_equal(results[0][0], results[1][0]) and torch.allclose(results[0][1], results[1][1])


def _scaler_setup(init_scale=2.0 ** 16, growth_interval=2):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale, growth_interval=growth_interval)
    return model, opt, scaler


def test_grad_scaler_unscales_steps_and_grows():
    model, opt, scaler = _scaler_setup()
    x, y = torch.randn(4, 3), torch.randn(4, 1)
    ref = nn.Linear(3, 1)
    ref.load_state_dict(model.state_dict())
    F.mse_loss(ref(x), y).backward()
    expected = [(p - 0.1 * p.grad).detach() for p in ref.parameters()]

    loss = F.mse_loss(model(x), y)
    scaled = scaler.scale(loss)
    assert scaled.item() == pytest.approx(loss.item() * 2 ** 16, rel=1e-6)
    scaled.backward()
    scaler.unscale_(opt)  # before clipping, as the usual loop does
    assert torch.allclose(model.weight.grad, ref.weight.grad, rtol=1e-5)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 100.0)
    scaler.step(opt)
    scaler.update()
    for p, e in zip(model.parameters(), expected):
        assert torch.allclose(p, e, rtol=1e-5, atol=1e-7)
    assert scaler.get_scale() == 2 ** 16  # one clean step of growth_interval=2
    opt.zero_grad()
    scaler.scale(F.mse_loss(model(x), y)).backward()
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 2 ** 17


def test_grad_scaler_skips_inf_steps_and_backs_off():
    model, opt, scaler = _scaler_setup()
    before = [p.detach().clone() for p in model.parameters()]
    (model(torch.tensor([[float("inf"), 0.0, 0.0]])).sum() * 0 + scaler.scale(model.weight.sum())).backward()
    assert scaler.step(opt) is None  # skipped: a gradient is NaN
    scaler.update()
    assert all(torch.array_equal(p, b) for p, b in zip(model.parameters(), before))
    assert scaler.get_scale() == 2 ** 15
    with pytest.raises(RuntimeError, match="No inf checks"):
        scaler.update()


def test_grad_scaler_misuse_state_and_disabled():
    model, opt, scaler = _scaler_setup()
    scaler.scale(model(torch.ones(1, 3)).sum()).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.step(opt)
    scaler.update()
    restored = torch.amp.GradScaler("cpu")
    restored.load_state_dict(scaler.state_dict())
    assert restored.get_scale() == scaler.get_scale() and restored.state_dict() == scaler.state_dict()
    scales = scaler.scale([torch.ones(1), (torch.ones(1),), {"a": torch.ones(1)}])
    assert scales[0].item() == scaler.get_scale() and scales[2]["a"].item() == scaler.get_scale()
    with pytest.raises(ValueError, match="growth_factor"):
        torch.amp.GradScaler("cpu", growth_factor=0.5)
    # "cuda" (the default, and torch.cuda.amp's) is disabled without CUDA, as in PyTorch: a pass-through
    with pytest.warns(UserWarning, match="CUDA is not available"):
        off = torch.cuda.amp.GradScaler()
    loss = model(torch.ones(1, 3)).sum()
    assert not off.is_enabled() and off.scale(loss) is loss and off.get_scale() == 1.0 and off.state_dict() == {}
    before = model.weight.detach().clone()
    opt.zero_grad()
    loss.backward()
    off.step(opt)
    off.update()
    assert not torch.array_equal(model.weight, before)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not torch.amp.GradScaler(enabled=False).is_enabled()


def test_float16_autocast_training_with_grad_scaler():
    # the AMP recipe, on the CPU in float16
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scaler = torch.amp.GradScaler("cpu")
    x = torch.randn(64, 8)
    y = (x[:, 0] > 0).long()
    losses = []
    for _ in range(30):
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cpu", dtype=torch.float16):
            logits = model(x)
            loss = F.cross_entropy(logits, y)
        assert logits.dtype == torch.float16 and loss.dtype == torch.float32
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert model[0].weight.dtype == torch.float32 and losses[-1] < 0.5 * losses[0]


def test_legacy_variable_is_a_tensor():
    from tessel.autograd import Variable
    data = torch.tensor([1.0, 2.0])
    v = Variable(data, requires_grad=True)
    assert isinstance(v, torch.Tensor) and isinstance(data, Variable) and v.requires_grad and v.is_leaf
    (v * v).sum().backward()
    assert v.grad.tolist() == [2.0, 4.0] and data.grad is None
    assert not Variable(data).requires_grad
    with pytest.raises(TypeError, match="must be a Tensor"):
        Variable([1.0])


# ----------------------------------------------- nn layers the scripts reached for

def _x(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape) * 2


_ALPHA, _SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
_ACTIVATIONS = {
    "SELU": (lambda: nn.SELU(), lambda a: _SCALE * np.where(a > 0, a, _ALPHA * np.expm1(a))),
    "CELU": (lambda: nn.CELU(0.7), lambda a: np.maximum(a, 0) + np.minimum(0, 0.7 * np.expm1(a / 0.7))),
    "LogSigmoid": (lambda: nn.LogSigmoid(), lambda a: -np.logaddexp(0, -a)),
    "Softsign": (lambda: nn.Softsign(), lambda a: a / (1 + np.abs(a))),
    "Tanhshrink": (lambda: nn.Tanhshrink(), lambda a: a - np.tanh(a)),
    "Softshrink": (lambda: nn.Softshrink(0.6), lambda a: np.where(a > 0.6, a - 0.6, np.where(a < -0.6, a + 0.6, 0))),
    "Hardshrink": (lambda: nn.Hardshrink(0.6), lambda a: np.where(np.abs(a) > 0.6, a, 0)),
    "Threshold": (lambda: nn.Threshold(0.4, -2.0), lambda a: np.where(a > 0.4, a, -2.0)),
    "Softmin": (lambda: nn.Softmin(1), lambda a: np.exp(-a) / np.exp(-a).sum(1, keepdims=True)),
    "Softmax2d": (lambda: nn.Softmax2d(), lambda a: np.exp(a) / np.exp(a).sum(1, keepdims=True)),
    "GLU": (lambda: nn.GLU(1), lambda a: a[:, :2] / (1 + np.exp(-a[:, 2:]))),
}


@pytest.mark.parametrize("name", sorted(_ACTIVATIONS))
def test_more_activations_match_numpy(name):
    make, ref = _ACTIVATIONS[name]
    a = _x(2, 4, 3, 3)
    got = make()(torch.tensor(a))
    np.testing.assert_allclose(N(got), ref(a), rtol=1e-10, atol=1e-12)
    if name in ("SELU", "CELU", "LogSigmoid", "Softsign", "Tanhshrink", "Softmin", "GLU"):
        assert torch.autograd.gradcheck(make(), (torch.tensor(_x(2, 4, 3, seed=1), requires_grad=True),))


def test_activation_argument_errors():
    with pytest.raises(ValueError, match="lambd must be non-negative"):
        F.softshrink(torch.ones(2), -1.0)
    with pytest.raises(ValueError, match="3D or 4D"):
        nn.Softmax2d()(torch.ones(2, 2))
    with pytest.raises(ValueError, match="alpha must not be 0"):
        F.celu(torch.ones(2), 0.0)


_PADS = [
    ("ZeroPad2d", lambda: nn.ZeroPad2d((1, 2, 0, 1)), ((0, 0), (0, 0), (0, 1), (1, 2)), "constant", {}),
    ("ConstantPad1d", lambda: nn.ConstantPad1d(2, 3.5), ((0, 0), (0, 0), (2, 2)), "constant", {"constant_values": 3.5}),
    ("ReflectionPad2d", lambda: nn.ReflectionPad2d(2), ((0, 0), (0, 0), (2, 2), (2, 2)), "reflect", {}),
    ("ReflectionPad1d", lambda: nn.ReflectionPad1d((1, 2)), ((0, 0), (0, 0), (1, 2)), "reflect", {}),
    ("ReplicationPad1d", lambda: nn.ReplicationPad1d((3, 1)), ((0, 0), (0, 0), (3, 1)), "edge", {}),
    ("ReplicationPad2d", lambda: nn.ReplicationPad2d(1), ((0, 0), (0, 0), (1, 1), (1, 1)), "edge", {}),
    ("CircularPad2d", lambda: nn.CircularPad2d(1), ((0, 0), (0, 0), (1, 1), (1, 1)), "wrap", {}),
    ("ConstantPad3d", lambda: nn.ConstantPad3d(1, -1.0), ((0, 0), (0, 0), (1, 1), (1, 1), (1, 1)), "constant",
     {"constant_values": -1.0}),
]


@pytest.mark.parametrize("name,make,np_pad,mode,kw", _PADS, ids=[p[0] for p in _PADS])
def test_padding_layers_match_numpy(name, make, np_pad, mode, kw):
    a = _x(*([2, 3, 4, 5, 6][:len(np_pad)]))
    assert N(make()(torch.tensor(a))).tolist() == np.pad(a, np_pad, mode=mode, **kw).tolist()
    unbatched = a[0]
    assert N(make()(torch.tensor(unbatched))).tolist() == np.pad(unbatched, np_pad[1:], mode=mode, **kw).tolist()
    with pytest.raises(ValueError, match="padding must be an int or"):
        type(make())((1, 2, 3)) if "Constant" not in name else type(make())((1, 2, 3), 0.0)


def test_pixel_and_channel_shuffle_match_their_definitions():
    r = 2
    a = _x(2, 3 * r * r, 3, 4)
    want = np.zeros((2, 3, 3 * r, 4 * r))
    for c in range(3):
        for i in range(r):
            for j in range(r):
                want[:, c, i::r, j::r] = a[:, c * r * r + i * r + j]
    got = nn.PixelShuffle(r)(torch.tensor(a))
    assert N(got).tolist() == want.tolist()
    assert N(nn.PixelUnshuffle(r)(got)).tolist() == a.tolist()
    assert F.pixel_shuffle(torch.tensor(a[0]), r).shape == (3, 6, 8)
    g = _x(2, 6, 2)
    want = g.reshape(2, 3, 2, 2).transpose(0, 2, 1, 3).reshape(2, 6, 2)
    assert N(nn.ChannelShuffle(3)(torch.tensor(g))).tolist() == want.tolist()
    with pytest.raises(ValueError, match="divisible by upscale_factor"):
        F.pixel_shuffle(torch.ones(1, 3, 2, 2), 2)
    with pytest.raises(ValueError, match="divisible by downscale_factor"):
        F.pixel_unshuffle(torch.ones(1, 1, 3, 2), 2)
    assert torch.autograd.gradcheck(lambda t: F.pixel_shuffle(t, 2), (torch.tensor(_x(1, 4, 2, 2),
                                                                                   requires_grad=True),))


def _instance_norm_ref(a, eps=1e-5):
    axes = tuple(range(2, a.ndim))
    return (a - a.mean(axes, keepdims=True)) / np.sqrt(a.var(axes, keepdims=True) + eps)


@pytest.mark.parametrize("cls,shape", [(nn.InstanceNorm1d, (2, 3, 5)), (nn.InstanceNorm2d, (2, 3, 4, 5)),
                                       (nn.InstanceNorm3d, (2, 3, 2, 3, 4))])
def test_instance_norm_matches_numpy(cls, shape):
    a = _x(*shape)
    m = cls(3)
    assert not m.affine and not m.track_running_stats and list(m.state_dict()) == []
    np.testing.assert_allclose(N(m(torch.tensor(a))), _instance_norm_ref(a), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(N(m(torch.tensor(a[0]))), _instance_norm_ref(a[:1])[0], rtol=1e-9, atol=1e-12)
    affine = cls(3, affine=True)
    with torch.no_grad():
        affine.weight.copy_(torch.tensor([1.0, 2.0, -1.0]))
        affine.bias.copy_(torch.tensor([0.0, 0.5, 1.0]))
    shape_c = (1, 3) + (1,) * (len(shape) - 2)
    want = _instance_norm_ref(a) * np.array([1.0, 2.0, -1.0]).reshape(shape_c) + np.array([0, 0.5, 1]).reshape(shape_c)
    np.testing.assert_allclose(N(affine(torch.tensor(a))), want, rtol=1e-9, atol=1e-12)
    x = torch.tensor(a, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: F.instance_norm(t), (x,))


def test_instance_norm_running_stats():
    a = _x(2, 3, 4, 5)
    m = nn.InstanceNorm2d(3, track_running_stats=True, momentum=0.3).double()
    m(torch.tensor(a))
    axes = (2, 3)
    # running stats: the batch average of each instance's mean and unbiased variance
    want_mean = 0.3 * a.mean(axes).mean(0)
    want_var = 0.7 + 0.3 * a.var(axes, ddof=1).mean(0)
    np.testing.assert_allclose(N(m.running_mean), want_mean, rtol=1e-9)
    np.testing.assert_allclose(N(m.running_var), want_var, rtol=1e-9)
    assert sorted(m.state_dict()) == ["num_batches_tracked", "running_mean", "running_var"]
    m.eval()
    c = (1, 3, 1, 1)
    want = (a - want_mean.reshape(c)) / np.sqrt(want_var.reshape(c) + 1e-5)
    np.testing.assert_allclose(N(m(torch.tensor(a))), want, rtol=1e-9)
    with pytest.raises(ValueError, match="expected 3D"):
        nn.InstanceNorm2d(3)(torch.ones(3, 4))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        nn.InstanceNorm2d(3)(torch.ones(2, 3, 1, 1))


def test_batch_norm_3d_and_one_d_adaptive_pools():
    a = _x(2, 3, 2, 3, 4)
    axes = (0, 2, 3, 4)
    want = (a - a.mean(axes, keepdims=True)) / np.sqrt(a.var(axes, keepdims=True) + 1e-5)
    np.testing.assert_allclose(N(nn.BatchNorm3d(3).double()(torch.tensor(a))), want, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="expected 5D input"):
        nn.BatchNorm3d(3)(torch.ones(2, 3, 4, 4))
    s = _x(2, 3, 7)
    # adaptive windows: [floor(i * L / n), ceil((i + 1) * L / n))
    bounds = [(i * 7 // 3, -(-(i + 1) * 7 // 3)) for i in range(3)]
    avg = np.stack([s[..., lo:hi].mean(-1) for lo, hi in bounds], -1)
    mx = np.stack([s[..., lo:hi].max(-1) for lo, hi in bounds], -1)
    np.testing.assert_allclose(N(nn.AdaptiveAvgPool1d(3)(torch.tensor(s))), avg, rtol=1e-12)
    assert N(nn.AdaptiveMaxPool1d(3)(torch.tensor(s))).tolist() == mx.tolist()
    np.testing.assert_allclose(N(F.adaptive_avg_pool1d(torch.tensor(s[0]), 3)), avg[0], rtol=1e-12)
    with pytest.raises(ValueError, match="2D .* or 3D"):
        F.adaptive_avg_pool1d(torch.ones(2), 1)


def test_distance_layers():
    a, b = _x(4, 5), _x(4, 5, seed=1)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(N(nn.CosineSimilarity(dim=1)(torch.tensor(a), torch.tensor(b))), cos, rtol=1e-10)
    d = np.linalg.norm(a - b + 1e-6, ord=3, axis=1)
    np.testing.assert_allclose(N(nn.PairwiseDistance(p=3)(torch.tensor(a), torch.tensor(b))), d, rtol=1e-10)
    dinf = np.abs(a - b + 1e-6).max(1, keepdims=True)
    np.testing.assert_allclose(N(F.pairwise_distance(torch.tensor(a), torch.tensor(b), p=math.inf, keepdim=True)),
                               dinf, rtol=1e-12)


def _softplus(z):
    return np.logaddexp(0, z)


def test_ranking_and_embedding_losses_match_numpy():
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(5, 4)), rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    v1, v2, ys = rng.normal(size=6), rng.normal(size=6), np.array([1.0, -1, 1, -1, 1, -1])
    T = torch.tensor
    np.testing.assert_allclose(N(nn.MarginRankingLoss(0.3)(T(v1), T(v2), T(ys))),
                               np.maximum(0, -ys * (v1 - v2) + 0.3).mean(), rtol=1e-12)
    np.testing.assert_allclose(N(F.hinge_embedding_loss(T(v1), T(ys), margin=0.5, reduction="none")),
                               np.where(ys == 1, v1, np.maximum(0, 0.5 - v1)), rtol=1e-12)
    # softplus returns its input above 20 (PyTorch's threshold): 1e-9 of the exact value
    np.testing.assert_allclose(N(nn.SoftMarginLoss()(T(v1 * 50), T(ys))), _softplus(-ys * v1 * 50).mean(),
                               rtol=1e-9)
    ml = (rng.random((5, 4)) > 0.5).astype(float)
    w = np.array([1.0, 2.0, 0.5, 1.0])
    want = ((ml * _softplus(-a) + (1 - ml) * _softplus(a)) * w).mean(-1)
    np.testing.assert_allclose(N(nn.MultiLabelSoftMarginLoss(weight=T(w), reduction="none")(T(a), T(ml))), want,
                               rtol=1e-12)
    y5 = np.array([1.0, -1, -1, 1, 1])
    cos = (a * b).sum(1) / np.sqrt(((a * a).sum(1) + 1e-12) * ((b * b).sum(1) + 1e-12))
    np.testing.assert_allclose(N(nn.CosineEmbeddingLoss(0.2)(T(a), T(b), T(y5))),
                               np.where(y5 == 1, 1 - cos, np.maximum(0, cos - 0.2)).mean(), rtol=1e-12)
    with pytest.raises(ValueError, match="1-D target needs 2-D inputs"):
        F.cosine_embedding_loss(T(v1), T(v2), T(ys))
    d = lambda x, y, p: (np.abs(x - y + 1e-6) ** p).sum(-1) ** (1 / p)  # noqa: E731
    np.testing.assert_allclose(N(nn.TripletMarginLoss(margin=1.0)(T(a), T(b), T(c))),
                               np.maximum(d(a, b, 2) - d(a, c, 2) + 1, 0).mean(), rtol=1e-12)
    swapped = np.maximum(d(a, b, 1) - np.minimum(d(a, c, 1), d(b, c, 1)) + 2, 0)
    np.testing.assert_allclose(N(nn.TripletMarginLoss(margin=2.0, p=1, swap=True, reduction="none")(T(a), T(b), T(c))),
                               swapped, rtol=1e-12)
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        nn.TripletMarginLoss(margin=0)
    x = T(a, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: F.triplet_margin_loss(t, T(b), T(c), margin=3.0), (x,))
    assert torch.autograd.gradcheck(lambda t: F.cosine_embedding_loss(t, T(b), T(y5)), (x,))


def test_likelihood_losses_match_numpy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    var = rng.random((5, 4)) + 0.1
    T = torch.tensor
    nll = 0.5 * (np.log(var) + (a - b) ** 2 / var)
    np.testing.assert_allclose(N(nn.GaussianNLLLoss()(T(a), T(b), T(var))), nll.mean(), rtol=1e-12)
    v0 = var[:, 0]  # one variance per sample
    full = 0.5 * (np.log(v0[:, None]) + (a - b) ** 2 / v0[:, None]) + 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(N(nn.GaussianNLLLoss(full=True, reduction="sum")(T(a), T(b), T(v0))), full.sum(),
                               rtol=1e-12)
    np.testing.assert_allclose(N(F.gaussian_nll_loss(T(a), T(b), T(var[:, :1]), reduction="none")),
                               0.5 * (np.log(var[:, :1]) + (a - b) ** 2 / var[:, :1]), rtol=1e-12)
    # var below eps is clamped for the value; its gradient there is the unclamped formula's (PyTorch's clamp
    # runs under no_grad)
    vv = T([0.1, 1e-9, 1.0], dtype=torch.float64, requires_grad=True)
    x, t = np.array([0.5, 0.2, 0.3]), np.zeros(3)
    loss = F.gaussian_nll_loss(T(x), T(t), vv, reduction="sum")
    clamped = np.array([0.1, 1e-6, 1.0])
    np.testing.assert_allclose(loss.item(), (0.5 * (np.log(clamped) + x ** 2 / clamped)).sum(), rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(N(vv.grad), 0.5 * (1 / clamped - x ** 2 / clamped ** 2), rtol=1e-9)
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(T(x), T(t), T([-1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="does not match"):
        F.gaussian_nll_loss(T(a), T(b), T(var[:3]))
    counts = rng.integers(0, 5, size=(5, 4)).astype(float)
    np.testing.assert_allclose(N(nn.PoissonNLLLoss()(T(a), T(counts))), (np.exp(a) - counts * a).mean(), rtol=1e-12)
    stirling = np.where(counts > 1, counts * np.log(np.maximum(counts, 1)) - counts
                        + 0.5 * np.log(2 * np.pi * np.maximum(counts, 1)), 0)
    np.testing.assert_allclose(N(nn.PoissonNLLLoss(full=True, reduction="none")(T(a), T(counts))),
                               np.exp(a) - counts * a + stirling, rtol=1e-12)
    np.testing.assert_allclose(N(nn.PoissonNLLLoss(log_input=False)(T(var), T(counts))),
                               (var - counts * np.log(var + 1e-8)).mean(), rtol=1e-12)


@pytest.mark.parametrize("shape,wrap", [((3, 4), False), ((4, 4), False), ((5, 2), True), ((5, 2), False),
                                        ((7, 3), True), ((3, 3, 3), False)])
def test_fill_diagonal_matches_numpy(shape, wrap):
    want = np.zeros(shape)
    np.fill_diagonal(want, 2.5, wrap=wrap)
    x = torch.zeros(*shape)
    assert x.fill_diagonal_(2.5, wrap=wrap) is x and N(x).tolist() == want.tolist()


def test_fill_diagonal_masks_a_similarity_matrix():
    # contrastive losses: sim.fill_diagonal_(-inf) before a softmax over the other samples
    sim = torch.ones(3, 3).fill_diagonal_(float("-inf"))
    assert torch.allclose(F.softmax(sim, dim=1), torch.tensor([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]))
    with pytest.raises(ValueError, match="all dims must be equal"):
        torch.zeros(2, 3, 4).fill_diagonal_(1)


def test_index_fill():
    a = np.arange(12.0).reshape(3, 4)
    want = a.copy()
    want[:, [0, 2]] = -1
    x = torch.tensor(a)
    assert N(x.index_fill(1, torch.tensor([0, 2]), -1)).tolist() == want.tolist() and N(x).tolist() == a.tolist()
    assert x.index_fill_(-2, torch.tensor(1), 9) is x and N(x)[1].tolist() == [9] * 4
    with pytest.raises(TypeError, match="integer tensor"):
        x.index_fill_(0, torch.tensor([0.5]), 1)
    with pytest.raises(IndexError, match="out of range"):
        x.index_fill_(2, torch.tensor([0]), 1)


def test_random_and_exponential_fill():
    torch.manual_seed(0)
    x = torch.zeros(2000)
    assert x.random_(5) is x and set(x.tolist()) == {0.0, 1.0, 2.0, 3.0, 4.0}
    assert set(torch.zeros(500, dtype=torch.int64).random_(2, 4).tolist()) == {2, 3}
    assert set(torch.zeros(100, dtype=torch.bool).random_().tolist()) == {False, True}
    assert torch.zeros(100, dtype=torch.uint8).random_().max().item() <= 255
    with pytest.raises(ValueError, match="from < to"):
        torch.zeros(2).random_(3, 1)
    e = torch.zeros(20000, dtype=torch.float64).exponential_(2.0)
    assert e.min().item() >= 0 and abs(e.mean().item() - 0.5) < 0.02 and abs(e.std().item() - 0.5) < 0.02
    g1 = torch.zeros(5).exponential_(generator=torch.Generator().manual_seed(3))
    g2 = torch.zeros(5).exponential_(generator=torch.Generator().manual_seed(3))
    assert torch.array_equal(g1, g2)
    with pytest.raises(ValueError, match="lambd must be positive"):
        torch.zeros(2).exponential_(0)


# ------------------------------------------------------------ ts.distributions

def test_normal_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    loc, scale, v = np.array([0.0, 1.0, -2.0]), np.array([1.0, 0.5, 3.0]), np.array([0.3, -1.0, 2.5])
    d = torch.distributions.Normal(torch.tensor(loc), torch.tensor(scale))
    ref = stats.norm(loc, scale)
    np.testing.assert_allclose(N(d.log_prob(torch.tensor(v))), ref.logpdf(v), rtol=1e-12)
    np.testing.assert_allclose(N(d.entropy()), ref.entropy(), rtol=1e-12)
    np.testing.assert_allclose(N(d.cdf(torch.tensor(v))), ref.cdf(v), rtol=1e-9)
    np.testing.assert_allclose(N(d.icdf(torch.tensor([0.1, 0.5, 0.975]))), ref.ppf([0.1, 0.5, 0.975]), rtol=1e-6)
    assert d.batch_shape == (3,) and d.event_shape == () and d.sample((4, 2)).shape == (4, 2, 3)
    assert torch.distributions.Normal(0.0, 2.0).log_prob(torch.tensor(1.0)).item() == pytest.approx(
        stats.norm(0, 2).logpdf(1.0))
    with pytest.raises(ValueError, match="scale must be positive"):
        torch.distributions.Normal(torch.zeros(2), torch.tensor([1.0, -1.0]))
    torch.manual_seed(0)
    s = torch.distributions.Normal(torch.tensor(2.0, dtype=torch.float64), 3.0).sample((20000,))
    assert abs(s.mean().item() - 2) < 0.1 and abs(s.std().item() - 3) < 0.1


def test_normal_rsample_carries_gradients():
    mu = torch.zeros(3, requires_grad=True)
    sigma = torch.ones(3, requires_grad=True)
    torch.manual_seed(0)
    z = torch.distributions.Normal(mu, sigma).rsample()
    z.sum().backward()
    assert mu.grad.tolist() == [1.0, 1.0, 1.0] and torch.allclose(sigma.grad, z.detach())
    assert not torch.distributions.Normal(mu, sigma).sample().requires_grad


def test_categorical_and_bernoulli_match_numpy():
    probs = np.array([[0.1, 0.0, 0.6, 0.3], [0.25, 0.25, 0.25, 0.25]])
    c = torch.distributions.Categorical(probs=torch.tensor(probs))
    assert N(c.log_prob(torch.tensor([2, 3]))).tolist() == pytest.approx(np.log([0.6, 0.25]).tolist())
    ent = -(probs * np.log(np.where(probs > 0, probs, 1))).sum(-1)
    np.testing.assert_allclose(N(c.entropy()), ent, rtol=1e-6)
    logits = np.array([[1.0, -2.0, 0.5, 0.0], [3.0, 3.0, -1.0, 0.2]])
    cl = torch.distributions.Categorical(logits=torch.tensor(logits))
    sm = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(N(cl.probs), sm, rtol=1e-12)
    # a [2, 1] value broadcasts against the batch [2]: entry [i, j] is log p_j(value[i])
    want = np.log(np.array([[sm[j, v] for j in range(2)] for v in (0, 3)]))
    np.testing.assert_allclose(N(cl.log_prob(torch.tensor([[0], [3]]))), want, rtol=1e-12)
    kl = (probs * (np.log(np.clip(probs, 1e-300, None)) - np.log(sm))).sum(-1)
    np.testing.assert_allclose(N(torch.distributions.kl_divergence(c, cl)), kl, rtol=1e-6)
    with pytest.raises(ValueError, match="class index"):
        c.log_prob(torch.tensor([4, 0]))
    with pytest.raises(ValueError, match="either probs or logits"):
        torch.distributions.Categorical()
    torch.manual_seed(0)
    draws = c.sample((4000,))
    assert draws.shape == (4000, 2) and draws.dtype == torch.int64
    freq = np.bincount(np.asarray(draws[:, 0].tolist()), minlength=4) / 4000
    assert np.abs(freq - probs[0]).max() < 0.03 and freq[1] == 0
    bp = np.array([0.2, 0.9, 0.5])
    b = torch.distributions.Bernoulli(probs=torch.tensor(bp))
    np.testing.assert_allclose(N(b.log_prob(torch.tensor([1.0, 0.0, 1.0]))), np.log([0.2, 0.1, 0.5]), rtol=1e-9)
    np.testing.assert_allclose(N(b.entropy()), -(bp * np.log(bp) + (1 - bp) * np.log(1 - bp)), rtol=1e-9)
    q = np.array([0.5, 0.5, 0.1])
    kl_b = bp * np.log(bp / q) + (1 - bp) * np.log((1 - bp) / (1 - q))
    np.testing.assert_allclose(N(torch.distributions.kl_divergence(b, torch.distributions.Bernoulli(
        probs=torch.tensor(q)))), kl_b, rtol=1e-9)
    assert torch.distributions.Bernoulli(logits=torch.tensor([0.0])).probs.tolist() == [0.5]
    with pytest.raises(ValueError, match="0 or 1"):
        b.log_prob(torch.tensor([0.5, 0.0, 1.0]))


def test_uniform_and_kl_registry():
    u = torch.distributions.Uniform(torch.tensor([0.0, -1.0]), torch.tensor([2.0, 1.0]))
    assert N(u.log_prob(torch.tensor([1.0, 0.5]))).tolist() == pytest.approx([-math.log(2)] * 2)
    assert u.entropy().tolist() == pytest.approx([math.log(2)] * 2) and u.mean.tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="outside the support"):
        u.log_prob(torch.tensor([3.0, 0.0]))
    kl = torch.distributions.kl_divergence(torch.distributions.Uniform(0.0, 1.0),
                                           torch.distributions.Uniform(torch.tensor([-1.0, 0.5]), 2.0))
    assert kl[0].item() == pytest.approx(math.log(3)) and kl[1].item() == math.inf
    with pytest.raises(NotImplementedError, match="no closed form"):
        torch.distributions.kl_divergence(u, torch.distributions.Normal(0.0, 1.0))


def test_reinforce_script():
    # policy gradient on a 4-armed bandit: the usual Categorical(logits=...) / log_prob loop
    torch.manual_seed(0)
    rewards = torch.tensor([0.1, 0.2, 0.9, 0.3])
    policy = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 4))
    optimizer = torch.optim.Adam(policy.parameters(), lr=0.05)
    state = torch.ones(32, 1)
    for _ in range(60):
        dist = torch.distributions.Categorical(logits=policy(state))
        action = dist.sample()
        reward = rewards[action] + 0.05 * torch.randn(32)
        advantage = reward - reward.mean()
        loss = -(dist.log_prob(action) * advantage).mean() - 0.01 * dist.entropy().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        probs = F.softmax(policy(torch.ones(1, 1)), dim=-1)[0]
    assert probs.argmax().item() == 2 and probs[2].item() > 0.8


# ------------------------------------------------------------ optim.Adadelta

def _adadelta_ref(p, grads, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    v, u = np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = -g if maximize else g
        g = g + weight_decay * p
        v = rho * v + (1 - rho) * g * g
        d = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * d * d
        p = p - lr * d
    return p


@pytest.mark.parametrize("kwargs", [{}, dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1, maximize=True)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_adadelta_matches_numpy(kwargs, dtype):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(8)]
    p = nn.Parameter(torch.tensor(p0, dtype=dtype))
    opt = torch.optim.Adadelta([p], **kwargs)
    for g in grads:
        p.grad = torch.tensor(g, dtype=dtype)
        opt.step()
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == torch.float64 else dict(rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(N(p), _adadelta_ref(p0, grads, **kwargs), **tol)
    state = opt.state_dict()["state"][0]
    assert sorted(state) == ["acc_delta", "square_avg", "step"] and float(state["step"]) == 8
    assert opt.defaults == dict(lr=kwargs.get("lr", 1.0), rho=kwargs.get("rho", 0.9), eps=kwargs.get("eps", 1e-6),
                                weight_decay=kwargs.get("weight_decay", 0), maximize=kwargs.get("maximize", False))


def test_adadelta_resumes_and_checks_arguments():
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(6)]
    p = nn.Parameter(torch.tensor(p0))
    opt = torch.optim.Adadelta([p], lr=0.3)
    for g in grads[:3]:
        p.grad = torch.tensor(g)
        opt.step()
    q = nn.Parameter(p.detach().clone())
    resumed = torch.optim.Adadelta([q], lr=0.3)
    resumed.load_state_dict(opt.state_dict())
    for g in grads[3:]:
        q.grad = torch.tensor(g)
        resumed.step()
    np.testing.assert_allclose(N(q), _adadelta_ref(p0, grads, lr=0.3), rtol=1e-10)
    with pytest.raises(ValueError, match="Invalid rho value"):
        torch.optim.Adadelta([p], rho=1.5)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        torch.optim.Adadelta([p], lr=-1)


def test_init_dirac_and_sparse():
    w = nn.init.dirac_(torch.empty(4, 2, 3, 3), groups=2)
    want = np.zeros((4, 2, 3, 3))
    for g in range(2):
        for i in range(2):
            want[g * 2 + i, i, 1, 1] = 1
    assert N(w).tolist() == want.tolist()
    # a dirac-initialized conv is the identity on its input channels
    conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
    nn.init.dirac_(conv.weight)
    x = torch.randn(1, 3, 5, 5)
    assert torch.allclose(conv(x), x)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.init.dirac_(torch.empty(3, 2, 3), groups=2)
    s = nn.init.sparse_(torch.empty(10, 4), sparsity=0.3, std=0.5, generator=torch.Generator().manual_seed(0))
    assert (s == 0).sum(0).tolist() == [3, 3, 3, 3] and s.abs().max().item() > 0
    with pytest.raises(ValueError, match="2 dimensions"):
        nn.init.sparse_(torch.empty(3), 0.5)


def test_std_var_positional_unbiased():
    # x.std(False) / torch.var(x, True): the bool is `unbiased`, over all dims (it raised TypeError).
    a = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]])
    x = torch.tensor(a, dtype=torch.float64)
    assert x.std(False).item() == pytest.approx(a.std())
    assert torch.var(x, True).item() == pytest.approx(a.var(ddof=1))
    assert torch.std(x, 1).tolist() == pytest.approx(a.std(axis=1, ddof=1).tolist())  # an int is still a dim
