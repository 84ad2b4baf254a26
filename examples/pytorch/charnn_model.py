"""charnn's model in PyTorch, and charnn's safetensors files read and written with torch alone.

A charnn model is a one-hot input, an nn.LSTM / nn.GRU / nn.RNN stored as `rnn` (time-major, like charnn), and an
nn.Linear stored as `decoder`. `charnn export -o model.safetensors` writes exactly this module's state_dict, gates in
PyTorch's order, plus `__metadata__` with the vocabulary and the architecture; `charnn import` reads back what
`CharRNN.save` writes. Debian's python3-torch has no `safetensors` module, so the format (8-byte little-endian header
length, JSON header, raw little-endian tensors) is read with torch.frombuffer and written by hand below.

    model, vocab = CharRNN.load("model.safetensors")
    ids = vocab.encode("To be, or not")             # (T,) long
    logits, state = model(ids[:, None])              # (T, 1, V)
    model.save("tuned.safetensors", vocab)

Dimension legend: T time steps, B batch streams, V vocabulary size, H hidden size, L layers.
"""

import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT = "charnn"
FORMAT_VERSION = "1"
CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}  # nn.RNN is tanh by default, as charnn's
DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16}
DEFAULT_MASK_FRAC = 0.15

if sys.byteorder != "little":
    raise ImportError("charnn_model reads and writes little-endian safetensors via torch.frombuffer: a little-endian host is needed")


# ----------------------------------------------------------------- the file format


def read_safetensors(path):
    """-> ({name: tensor}, {metadata key: string}). Raises ValueError on a file that is not well-formed."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: truncated header")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    body = bytearray(data[8 + n:])  # writable, so torch.frombuffer does not warn
    tensors = {}
    for name, entry in header.items():
        dtype = DTYPES[entry["dtype"]]
        begin, end = entry["data_offsets"]
        if end > len(body):
            raise ValueError(f"{path}: tensor {name} is truncated")
        count = (end - begin) // torch.tensor([], dtype=dtype).element_size()
        t = torch.frombuffer(body, dtype=dtype, count=count, offset=begin) if count else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(entry["shape"]).clone()
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Writes float32 tensors and string metadata; atomically (temp file, then rename)."""
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    blobs, offset = [], 0
    for name, t in tensors.items():
        t = t.detach().to("cpu", torch.float32).contiguous()
        blob = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text.encode("utf-8")) % 8) % 8)
    head = text.encode("utf-8")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for blob in blobs:
            f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ----------------------------------------------------------------- vocabulary


class Vocab:
    """The symbols in id order. 'utf8': one code point each; 'bytes': chr(b) for each raw byte value b."""

    def __init__(self, symbols, encoding="utf8"):
        if encoding not in ("utf8", "bytes"):
            raise ValueError(f"unknown vocabulary encoding {encoding!r}")
        self.symbols, self.encoding = list(symbols), encoding
        self.index = {s: i for i, s in enumerate(self.symbols)}

    def __len__(self):
        return len(self.symbols)

    @staticmethod
    def from_text(text):
        """Sorted code points, as charnn builds a vocabulary."""
        return Vocab(sorted(set(text)))

    def units(self, data):
        """bytes or str -> the sequence of symbols charnn would read."""
        if self.encoding == "bytes":
            return [chr(b) for b in (data if isinstance(data, (bytes, bytearray)) else data.encode("utf-8"))]
        return list(data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data)

    def encode(self, data):
        """-> (N,) long tensor; raises ValueError naming characters outside the vocabulary."""
        units = self.units(data)
        unknown = sorted({u for u in units if u not in self.index})
        if unknown:
            raise ValueError(f"the text has characters outside the model's vocabulary: {unknown[:10]!r}")
        return torch.tensor([self.index[u] for u in units], dtype=torch.long)

    def decode(self, ids):
        text = "".join(self.symbols[i] for i in ids)
        return text.encode("latin-1").decode("utf-8", "replace") if self.encoding == "bytes" else text


# ----------------------------------------------------------------- the model


class CharRNN(nn.Module):
    """ids (T, B) -> one-hot (T, B, I) -> rnn (T, B, H or 2H) -> decoder -> logits (T, B, V).

    I = V, or V + 1 for a bidirectional (masked-character) model whose input id V is the mask symbol. Dropout, as in
    charnn, is applied to every layer's output in training (nn.RNN's `dropout` between layers, `drop` after the top).
    """

    def __init__(self, cell, vocab_size, hidden_size, layers, bidirectional=False, dropout=0.0, mask_frac=None, seq_length=50):
        super().__init__()
        self.cell, self.vocab_size, self.hidden_size, self.layers = cell, vocab_size, hidden_size, layers
        self.bidirectional, self.dropout, self.seq_length = bidirectional, dropout, seq_length
        self.mask_frac = (mask_frac or DEFAULT_MASK_FRAC) if bidirectional else None
        self.input_size = vocab_size + 1 if bidirectional else vocab_size
        self.rnn = CELLS[cell](self.input_size, hidden_size, layers, dropout=dropout if layers > 1 else 0.0,
                               bidirectional=bidirectional)
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden_size * (2 if bidirectional else 1), vocab_size)

    def forward(self, ids, state=None):
        """ids (T, B) long -> logits (T, B, V), final state."""
        x = F.one_hot(ids, self.input_size).float()  # (T, B, I)
        out, state = self.rnn(x, state)  # (T, B, H or 2H)
        return self.decoder(self.drop(out)), state

    def zero_state(self, B, device=None):
        h = torch.zeros(self.layers * (2 if self.bidirectional else 1), B, self.hidden_size, device=device)  # (L, B, H)
        return (h, h.clone()) if self.cell == "lstm" else h

    def config(self):
        return {"cell": self.cell, "layers": self.layers, "hidden_size": self.hidden_size, "vocab_size": self.vocab_size,
                "bidirectional": self.bidirectional, "mask_frac": self.mask_frac, "dropout": self.dropout,
                "seq_length": self.seq_length}

    def save(self, path, vocab):
        """Writes charnn's safetensors file: this state_dict plus the metadata charnn import needs."""
        metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "vocab": json.dumps(vocab.symbols),
                    "vocab_encoding": vocab.encoding, "config": json.dumps(self.config())}
        write_safetensors(path, self.state_dict(), metadata)

    @staticmethod
    def load(path, dropout=None):
        """-> (model, vocab) from a file charnn export (or save) wrote; strict: every tensor must fit."""
        tensors, metadata = read_safetensors(path)
        if metadata.get("format") != FORMAT:
            raise ValueError(f"{path} has no charnn metadata (format {metadata.get('format')!r})")
        c = json.loads(metadata["config"])
        vocab = Vocab(json.loads(metadata["vocab"]), metadata.get("vocab_encoding", "utf8"))
        model = CharRNN(c["cell"], c["vocab_size"], c["hidden_size"], c["layers"], c.get("bidirectional", False),
                        c.get("dropout", 0.0) if dropout is None else dropout, c.get("mask_frac"), c.get("seq_length", 50))
        model.load_state_dict(tensors, strict=True)
        return model, vocab


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
