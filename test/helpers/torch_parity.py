#!/usr/bin/python3
"""The PyTorch side of the interop tests (test/interop-torch.test.ts): runs a JSON list of jobs in one process.

  {"kind": "logprobs", "model": m.safetensors, "ids": ids.i32, "out": out.f32}
      load charnn's export with examples/pytorch/charnn_model.py (strict), write log-softmax (T, V) float32 of the
      logits over the int32 ids (one stream from a zero state; bidirectional: the whole window)
  {"kind": "random", "cell", "layers", "hidden", "bidirectional", "vocab", "seed", "model", "ids", "out"}
      a CharRNN with PyTorch's own initialisation (both biases nonzero), saved as model, and its log-probs as above
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "pytorch"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from charnn_model import CharRNN, Vocab  # noqa: E402


def logprobs(model, ids_path, out_path):
    with open(ids_path, "rb") as f:
        ids = torch.frombuffer(bytearray(f.read()), dtype=torch.int32).long()
    model.eval()
    with torch.no_grad():
        logits, _ = model(ids[:, None])  # (T, 1, V)
        lp = F.log_softmax(logits[:, 0, :], dim=-1).contiguous()  # (T, V)
    with open(out_path, "wb") as f:
        f.write(lp.numpy().astype("<f4").tobytes())


def main():
    torch.set_num_threads(1)
    jobs = json.load(open(sys.argv[1]))
    for job in jobs:
        if job["kind"] == "logprobs":
            model, _ = CharRNN.load(job["model"])
        else:
            torch.manual_seed(job["seed"])
            model = CharRNN(job["cell"], len(job["vocab"]), job["hidden"], job["layers"], job["bidirectional"])
            model.save(job["model"], Vocab(job["vocab"]))
        logprobs(model, job["ids"], job["out"])


if __name__ == "__main__":
    main()
