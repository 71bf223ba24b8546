"""Which samples each data-parallel rank trains on at each step, independent of the number of ranks.

Global batch b of epoch e is `sample_order(n, seed, e)[b*G:(b+1)*G]`; dp rank r takes the r-th
contiguous slice of it and splits that into micro-batches (gradient accumulation). The step number
alone fixes the data, so a resumed run — on any world size — replays exactly the same samples.
`Prefetcher` reads the next steps' batches on a background thread while the current one trains.
"""
from __future__ import annotations

import queue
import threading

import numpy as np
import torch

from dataprep.packed import PackedCorpus, TrainingSamples
from pipeline.mixture import BlendedSamples, epoch_order
from pipeline.parallel.layout import accumulation_steps


class TrainBatches:
    def __init__(self, samples: TrainingSamples | BlendedSamples, global_batch: int, micro_batch: int,
                 dp_rank: int, dp_size: int, seed: int):
        accumulation_steps(global_batch, micro_batch, dp_size)     # raises unless they divide
        if len(samples) < global_batch:
            raise ValueError(f"the training split holds {len(samples)} samples of seq_len {samples.seq_len}, "
                             f"fewer than one global batch ({global_batch})")
        self.samples, self.global_batch, self.micro_batch = samples, global_batch, micro_batch
        self.dp_rank, self.dp_size, self.seed = dp_rank, dp_size, seed
        self.batches_per_epoch = len(samples) // global_batch
        self._order_epoch, self._order = -1, np.empty(0, dtype=np.int64)

    def sample_ids(self, step: int) -> np.ndarray:
        """This rank's sample ids for optimizer step `step` (0-based)."""
        epoch, batch = divmod(step, self.batches_per_epoch)
        if epoch != self._order_epoch:
            self._order, self._order_epoch = epoch_order(self.samples, self.seed, epoch), epoch
        per_rank = self.global_batch // self.dp_size
        start = batch * self.global_batch + self.dp_rank * per_rank
        return self._order[start:start + per_rank]

    def micro_batches(self, step: int) -> list[torch.Tensor]:
        """(micro_batch, seq_len + 1) int64 tensors: inputs are [:, :-1], labels [:, 1:]."""
        ids = self.sample_ids(step)
        return [stack(self.samples, ids[i:i + self.micro_batch]) for i in range(0, len(ids), self.micro_batch)]

    def epoch_of(self, step: int) -> int:
        return step // self.batches_per_epoch


class Prefetcher:
    """`batches.micro_batches(step)` for steps start, start + 1, ... stop - 1, read by a background
    thread at most `depth` steps ahead of the trainer (a bounded queue), pinned for a fast copy to
    the GPU when `pin`. The data is a pure function of the step, so a resumed run prefetches from its
    resume step and trains on exactly the batches an unprefetched run would. depth 0: no thread."""

    def __init__(self, batches: TrainBatches, start: int, stop: int, depth: int, pin: bool = False):
        self.batches, self.next_step, self.pin = batches, start, pin
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stopped = threading.Event()
        self._thread = None
        if depth > 0 and start < stop:
            self._thread = threading.Thread(target=self._read, args=(start, stop), daemon=True,
                                            name="batch-prefetch")
            self._thread.start()

    def _load(self, step: int) -> list[torch.Tensor]:
        micro = self.batches.micro_batches(step)
        return [b.pin_memory() for b in micro] if self.pin else micro

    def _read(self, start: int, stop: int) -> None:
        for step in range(start, stop):
            try:
                item: object = self._load(step)
            except Exception as exc:          # re-raised on the training thread by get()
                item = exc
            while not self._stopped.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if self._stopped.is_set() or isinstance(item, Exception):
                return

    def get(self, step: int) -> list[torch.Tensor]:
        """This rank's micro-batches of `step`; steps must be asked for in order."""
        if step != self.next_step:
            raise RuntimeError(f"prefetcher asked for step {step}, expected step {self.next_step}")
        self.next_step += 1
        if self._thread is None:
            return self._load(step)
        item = self._queue.get()
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        """Stop the thread (it may be waiting to hand over a batch nobody will take)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()


def eval_micro_batches(samples: TrainingSamples, max_samples: int, micro_batch: int,
                       dp_rank: int, dp_size: int) -> list[torch.Tensor]:
    """A fixed validation set (the first samples of the split), dealt round-robin to the dp ranks.

    Every rank gets the same number of micro-batches: under ZeRO-3 each forward is a collective.
    """
    per_rank = min(len(samples), max_samples) // dp_size
    if per_rank == 0:
        return []
    ids = np.arange(per_rank * dp_size)[dp_rank::dp_size]
    return [stack(samples, ids[i:i + micro_batch]) for i in range(0, len(ids), micro_batch)]


def stack(samples: TrainingSamples, ids: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack([samples[int(i)] for i in ids]))


def token_counts(corpus: PackedCorpus) -> np.ndarray:
    """How often each id occurs in the training stream (documents plus one eos after each)."""
    counts = np.zeros(corpus.vocab_size, dtype=np.int64)
    for shard in corpus.shards:
        counts += np.bincount(np.asarray(shard.tokens), minlength=corpus.vocab_size)[:corpus.vocab_size]
        counts[corpus.eos_id] += shard.num_documents
    return counts


def unigram_baseline(train: PackedCorpus, validation: PackedCorpus) -> dict[str, float]:
    """The loss to beat: entropy of the train split's token frequencies, and the cross-entropy those
    (add-one smoothed) frequencies score on the validation split, in nats per token."""
    train_counts, val_counts = token_counts(train), token_counts(validation)
    probs = (train_counts + 1) / (train_counts.sum() + len(train_counts))
    seen = train_counts > 0
    observed = train_counts[seen] / train_counts.sum()
    return {"train_unigram_entropy": float(-(observed * np.log(observed)).sum()),
            "val_unigram_cross_entropy": float(-(val_counts * np.log(probs)).sum() / max(1, val_counts.sum()))}
