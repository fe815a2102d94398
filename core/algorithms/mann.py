"""MANN (Santoro et al., 2016, "Meta-Learning with Memory-Augmented Neural Networks"): an LSTM
controller with an external memory read and written by least-recently-used access
(``mann_memory``).

An episode is a sequence: its images (support and query) in a random order, each step's input the
image's features and the one-hot *label slot of the previous step* (zero at step 0), so a step
never sees its own label. Labels are shuffled per episode: the ``n_way`` classes get distinct
random slots out of ``LABEL_SLOTS``; the output is a softmax over the episode's slots. The order
and the slots come from a generator seeded by the episode's contents (``episode_generator``).
Meta-training: cross-entropy at every step (the paper's objective).

Controller input per step: ``[backbone(x_t), onehot(slot_{t-1}), r_{t-1}]``; from the LSTM's
``h_t``: per head a key ``k_t = tanh(.)``, a write gate ``sigmoid(alpha)`` and a key strength
``beta = 1 + softplus(.)``; output ``[h_t, r_t]`` -> slot logits.

As an N-way K-shot learner (common tables, GUI): the support set is fed as the sequence, then
each query is classified by one more step from the state after the support (independently of
the other queries), its previous label that of the last support step. ``feed`` yields the
memory's read/write weights per support step (``MemoryStep``), for the window's heatmap.
``presentation_accuracy`` scores the paper's protocol (accuracy at the k-th presentation of a
class).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn

from core.algorithms.base import (
    AdaptStep,
    BackboneConfig,
    Capabilities,
    Learner,
    MetaLoss,
    step_zero,
)
from core.algorithms.mann_memory import READS, MemoryState, least_used, lrua_step
from core.algorithms.model_based import check_no_steps, episode_generator
from core.data.episodes import Episode
from core.models.backbones import build_backbone, check_backbone

#: label slots (the one-hot label input and the output); the most classes a sequence can have
LABEL_SLOTS = 20
#: salt of ``episode_generator`` for the order and label slots
SALT = 2


@dataclass(frozen=True)
class MANNConfig(BackboneConfig):
    controller: int = field(default=200, metadata={"help": "LSTM controller units (paper: 200)"})
    slots: int = field(default=128, metadata={"help": "memory slots (paper: 128)"})
    slot_size: int = field(default=40, metadata={"help": "numbers per memory slot (paper: 40)"})
    heads: int = field(default=4, metadata={"help": "read heads = write heads (paper: 4)"})
    gamma: float = field(default=0.95, metadata={"help": "usage decay (paper: 0.95 or 0.99)"})
    write: str = field(
        default="add",
        metadata={
            "help": "what a head writes: add, its own vector (as in common reproductions), or "
            "key, the read key itself (the paper's equations; read right after the write, the "
            "key finds itself, and training stays at guessing an unused label)",
            "choices": ("add", "key"),
        },
    )
    read: str = field(
        default="after",
        metadata={
            "help": "where a step's keys address the memory: before, the memory as it was "
            "before the step's own write (snowkylin/ntm; a read lands on the slots of earlier "
            "images of the class, issue 33), or after it (the paper's equations read literally; "
            "the default, so that files trained before the choice existed keep their meaning)",
            "choices": READS,
        },
    )
    distortions: bool = field(
        default=True,
        metadata={
            "help": "in meta-training, turn each class of a sequence by a random multiple of "
            "90 degrees (a new class) and each image by a random rotation up to +-11.25 degrees "
            "and shift up to +-10 percent of its side (the reproductions' augmentation; never at "
            "evaluation)",
        },
    )

    def __post_init__(self) -> None:
        for name in ("controller", "slots", "slot_size", "heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.heads > self.slots:
            raise ValueError("heads must be at most slots")
        if not 0 <= self.gamma <= 1:
            raise ValueError("gamma must be between 0 and 1")
        if self.write not in ("add", "key"):
            raise ValueError(f"write must be add or key, not {self.write!r}")
        if self.read not in READS:
            raise ValueError(f"read must be before or after, not {self.read!r}")
        check_backbone(self.backbone, self.in_channels, self.input_size, self.hidden)


@dataclass(frozen=True)
class LabelSequence:
    """An episode as a sequence: ``order`` ``(T,)`` indices into the episode's images,
    ``targets`` ``(T,)`` class of each step (0..n_way-1), ``slots`` ``(n_way,)`` the label slot
    of each class (distinct, shuffled per episode)."""

    order: torch.Tensor
    targets: torch.Tensor
    slots: torch.Tensor


def label_sequence(labels: torch.Tensor, n_way: int, generator: torch.Generator) -> LabelSequence:
    """A random order of the images with ``labels`` ``(n,)`` and random label slots."""
    if n_way > LABEL_SLOTS:
        raise ValueError(
            f"MANN takes at most {LABEL_SLOTS} classes per episode, not {n_way} (e.g. --ways 5)"
        )
    order = torch.randperm(len(labels), generator=generator).to(labels.device)
    slots = torch.randperm(LABEL_SLOTS, generator=generator)[:n_way].to(labels.device)
    return LabelSequence(order, labels[order], slots)


def previous_labels(slot_targets: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` label slots -> ``(B, T, LABEL_SLOTS)`` inputs: step ``t`` gets the one-hot of
    step ``t - 1``'s slot, step 0 zeros (a step never sees its own label)."""
    onehot = F.one_hot(slot_targets, LABEL_SLOTS).float()
    return torch.cat([torch.zeros_like(onehot[:, :1]), onehot[:, :-1]], 1)


#: salt of ``episode_generator`` for the training distortions
DISTORT_SALT = 3
#: largest small rotation (degrees) and shift (fraction of the side) of a distorted image
DISTORT_DEGREES, DISTORT_SHIFT = 11.25, 0.1


def distort(images: torch.Tensor, classes: torch.Tensor, n_way: int, generator: torch.Generator):
    """``images`` ``(n, C, S, S)`` of ``classes`` ``(n,)``: each class turned by its own random
    multiple of 90 degrees (a turned character is another character), then each image by a
    random angle in +-``DISTORT_DEGREES`` and shifted by up to ``DISTORT_SHIFT`` of its side
    along each axis (zero padding: no ink)."""
    turns = torch.randint(4, (n_way,), generator=generator)[classes.cpu()]
    n = len(images)
    u = torch.rand(n, 3, generator=generator, dtype=torch.float64).mul_(2).sub_(1)
    angle = torch.deg2rad(DISTORT_DEGREES * u[:, 0]) + turns.double() * (torch.pi / 2)
    cos, sin = torch.cos(angle), torch.sin(angle)
    shift = 2 * DISTORT_SHIFT * u[:, 1:]  # affine_grid's coordinates span 2 per side
    affine = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    ).to(images)
    grid = F.affine_grid(affine, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="zeros", align_corners=False)


def distorted(episode: Episode) -> Episode:
    """``episode`` with its images distorted by ``distort`` (seeded by the episode)."""
    gen = episode_generator(episode.support, episode.query, salt=DISTORT_SALT)
    images = torch.cat([episode.support, episode.query])
    labels = torch.cat([episode.support_labels, episode.query_labels])
    out = distort(images, labels, episode.n_way, gen)
    n = len(episode.support)
    return Episode(out[:n], episode.support_labels, out[n:], episode.query_labels,
                   episode.class_names)  # fmt: skip


@dataclass(frozen=True)
class MemoryStep:
    """The memory after one support step: ``read_weights``/``write_weights`` ``(heads, slots)``,
    ``usage`` ``(slots,)``, ``probs`` ``(n_way,)`` the prediction for that image before its
    label is seen, ``index`` the image's position in the support set."""

    step: int
    index: int
    read_weights: torch.Tensor
    write_weights: torch.Tensor
    usage: torch.Tensor
    probs: torch.Tensor


class MANN(Learner):
    name = "mann"
    capabilities = Capabilities(
        adapt_steps=False,
        lr_override="",
        embedding=True,
        max_ways=LABEL_SLOTS,
        episode_kind="sequence",  # an episode is fed as a sequence (also N-way K-shot)
        live_view="memory",
    )
    #: ``--amp bf16`` speeds up the backbone only: the controller and the memory run in float32
    #: (``run_sequence``), where bfloat16's 8-bit mantissa would blur the cosine addressing
    cpu_bf16_ok = True

    def __init__(self, config: MANNConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or MANNConfig()
        self.backbone = build_backbone(c.backbone, c.in_channels, c.input_size, c.hidden)
        reads = c.heads * c.slot_size
        self.lstm = nn.LSTMCell(self.backbone.out_features + LABEL_SLOTS + reads, c.controller)
        self.key = nn.Linear(c.controller, reads)
        self.add = nn.Linear(c.controller, reads) if c.write == "add" else None
        self.gate = nn.Linear(c.controller, c.heads)
        self.strength = nn.Linear(c.controller, c.heads)
        self.out = nn.Linear(c.controller + reads, LABEL_SLOTS)

    def adapt_defaults(self) -> tuple[int, float | None]:
        return 0, None

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone features ``(n, d)`` of ``images`` ``(n, C, H, W)`` (the controller's input)."""
        return self.backbone(images)

    def initial(self, batch: int, like: torch.Tensor) -> tuple[tuple, MemoryState]:
        """Zero controller state ``(h, c)`` ``(B, controller)`` and the empty memory."""
        c = self.config
        zeros = like.new_zeros(batch, c.controller)
        return (zeros, zeros), MemoryState.initial(batch, c.heads, c.slots, c.slot_size, like)

    def step(
        self, feats: torch.Tensor, prev: torch.Tensor, lstm_state: tuple, memory: MemoryState
    ) -> tuple[torch.Tensor, tuple, MemoryState, torch.Tensor]:
        """One step: features ``(B, d)``, previous-label one-hots ``(B, LABEL_SLOTS)`` ->
        slot logits ``(B, LABEL_SLOTS)``, new states, write weights ``(B, R, N)``."""
        c = self.config
        x = torch.cat([feats, prev.to(feats.dtype), memory.vectors.flatten(1)], 1)
        h, cell = self.lstm(x, lstm_state)
        keys = torch.tanh(self.key(h)).view(len(h), c.heads, c.slot_size)
        gate = torch.sigmoid(self.gate(h))
        strength = 1 + F.softplus(self.strength(h))
        add = None if self.add is None else torch.tanh(self.add(h)).view_as(keys)
        memory, w_write = lrua_step(memory, keys, gate, strength, c.gamma, add, c.read)
        logits = self.out(torch.cat([h, memory.vectors.flatten(1)], 1))
        return logits, (h, cell), memory, w_write

    def run_sequence(
        self, feats: torch.Tensor, slot_targets: torch.Tensor
    ) -> tuple[torch.Tensor, tuple, MemoryState, list[tuple[MemoryState, torch.Tensor]]]:
        """Features ``(B, T, d)`` and label slots ``(B, T)`` -> slot logits ``(B, T, SLOTS)``
        (step ``t`` sees the slots of steps ``< t`` only), the final states, and per step the
        memory state and write weights."""
        feats = feats.float()
        prev = previous_labels(slot_targets)
        lstm_state, memory = self.initial(feats.shape[0], feats)
        logits, trace = [], []
        with torch.autocast(feats.device.type, enabled=False):  # float32 under --amp
            for t in range(feats.shape[1]):
                out, lstm_state, memory, w_write = self.step(
                    feats[:, t], prev[:, t], lstm_state, memory
                )
                logits.append(out)
                trace.append((memory, w_write))
        return torch.stack(logits, 1), lstm_state, memory, trace

    def sequence_of(self, episode: Episode) -> LabelSequence:
        """The seeded sequence of an episode's support and query images."""
        labels = torch.cat([episode.support_labels, episode.query_labels])
        gen = episode_generator(episode.support, episode.query, salt=SALT)
        return label_sequence(labels, episode.n_way, gen)

    def episode_logits(self, episodes: Sequence[Episode]) -> tuple[torch.Tensor, torch.Tensor]:
        """Episodes of equal shape -> per-step class logits ``(B, T, n_way)`` (over each
        episode's own slots) and the step classes ``(B, T)``."""
        logits, targets, _ = self.episode_run(episodes)
        return logits, targets

    def episode_run(
        self, episodes: Sequence[Episode]
    ) -> tuple[torch.Tensor, torch.Tensor, list[tuple[MemoryState, torch.Tensor]]]:
        """``episode_logits`` and the memory trace of ``run_sequence`` (per step the memory
        state and the write weights)."""
        seqs = [self.sequence_of(ep) for ep in episodes]
        images = torch.stack(
            [
                torch.cat([ep.support, ep.query])[s.order]
                for ep, s in zip(episodes, seqs, strict=True)
            ]
        )
        feats = self.embed(images.flatten(0, 1)).view(*images.shape[:2], -1)
        slots = torch.stack([s.slots for s in seqs])  # (B, n_way)
        targets = torch.stack([s.targets for s in seqs])
        logits, _, _, trace = self.run_sequence(feats, slots.gather(1, targets))
        own = logits.gather(2, slots.unsqueeze(1).expand(-1, logits.shape[1], -1))
        return own, targets, trace

    def meta_loss(self, episodes: Sequence[Episode]) -> MetaLoss:
        """Cross-entropy at every step of every episode's sequence; accuracy over all steps.
        With ``distortions``, each episode is first distorted (``distorted``)."""
        if self.config.distortions:
            episodes = [distorted(ep) for ep in episodes]
        groups: dict[tuple, list[Episode]] = {}
        for ep in episodes:
            groups.setdefault((ep.support.shape, ep.query.shape, ep.n_way), []).append(ep)
        total, hits, count = 0.0, 0, 0
        for group in groups.values():
            logits, targets = self.episode_logits(group)
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum")
            total = total + loss / targets.shape[1]
            hits += int((logits.detach().argmax(2) == targets).sum())
            count += targets.numel()
        return MetaLoss(total / len(episodes), hits / max(count, 1))

    def feed(self, support: torch.Tensor, support_labels: torch.Tensor) -> Iterator[MemoryStep]:
        """Feed the support set ``(n_s, C, H, W)`` with labels ``(n_s,)`` as a sequence (seeded
        order and label slots, as ``adapt`` does); yield the memory after each step."""
        for record, *_ in self._support_steps(support, support_labels):
            yield record

    def _support_steps(
        self, support: torch.Tensor, support_labels: torch.Tensor
    ) -> Iterator[tuple[MemoryStep, LabelSequence, tuple, MemoryState]]:
        """``feed``'s records with the sequence and the states after each step (eval mode)."""
        self.eval()
        n_way = self.support_ways(support, support_labels)
        gen = episode_generator(support, salt=SALT)
        seq = label_sequence(support_labels, n_way, gen)
        with torch.no_grad():
            feats = self.embed(support[seq.order]).unsqueeze(0)
            prev = previous_labels(seq.slots[seq.targets].unsqueeze(0))
            lstm_state, memory = self.initial(1, feats)
            for t in range(feats.shape[1]):
                out, lstm_state, memory, w_write = self.step(
                    feats[:, t], prev[:, t], lstm_state, memory
                )
                probs = torch.softmax(out[0, seq.slots], 0)
                record = MemoryStep(
                    t, int(seq.order[t]), memory.read[0], w_write[0], memory.usage[0], probs
                )
                yield record, seq, lstm_state, memory

    def adapt(
        self,
        support: torch.Tensor,
        support_labels: torch.Tensor,
        query: torch.Tensor | None = None,
        steps: int | None = None,
        lr: float | None = None,
    ) -> Iterator[AdaptStep]:
        """Step 0 only: feed the support set as a sequence (``lr`` is unused). ``loss`` and
        ``support_accuracy``: of the online predictions, each made before its label was seen."""
        check_no_steps(steps, "MANNs")
        self.eval()
        steps_ = list(self._support_steps(support, support_labels))
        trace = tuple(record for record, *_ in steps_)
        _, seq, lstm_state, memory = steps_[-1]
        probs = torch.stack([s.probs for s in trace])  # sequence order
        targets = seq.targets
        loss = F.nll_loss(probs.clamp_min(1e-12).log(), targets)
        classifier = MANNClassifier(
            self, seq.slots, seq.slots[targets[-1]], lstm_state, memory, trace
        )
        yield step_zero(classifier, probs, targets, loss, query)


@dataclass(frozen=True)
class MANNClassifier:
    """The state after the support sequence; classifies each image by one more step from it.

    ``trace``: the memory after each support step (``MemoryStep``, the window's heatmap)."""

    learner: MANN
    slots: torch.Tensor
    last_slot: torch.Tensor
    lstm_state: tuple
    memory: MemoryState
    trace: tuple[MemoryStep, ...]

    @property
    def n_way(self) -> int:
        return len(self.slots)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """``(n, C, H, W)`` -> ``(n, n_way)``; each image independently of the others."""
        return self._query_step(images)[0]

    def read_weights(self, images: torch.Tensor) -> torch.Tensor:
        """``(n, C, H, W)`` -> ``(n, heads, slots)``: where each image's step reads the memory
        (the window's heatmap row for the query)."""
        return self._query_step(images)[1]

    def _query_step(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(images)
        with torch.no_grad():
            feats = self.learner.embed(images)
            state = tuple(s.expand(n, -1) for s in self.lstm_state)
            parts = (getattr(self.memory, f.name) for f in fields(MemoryState))
            memory = MemoryState(*(t.expand(n, *t.shape[1:]) for t in parts))
            prev = F.one_hot(self.last_slot.expand(n), LABEL_SLOTS)
            out, _, memory, _ = self.learner.step(feats, prev, state, memory)
        return out[:, self.slots], memory.read


@dataclass(frozen=True)
class PresentationAccuracy:
    """Accuracy at the k-th presentation of a class (``presentations[i]``: ``accuracy[i]`` over
    ``counts[i]`` steps); ``own_reads``: the share of the ``reads`` steps at a class's 2nd or
    later presentation whose read (summed over the heads) peaks on a slot written by the
    step's own class (``own_class_reads``); ``read_peak``: the mean over those steps and the
    heads of a head's largest read weight (``1 / slots`` when reads are uniform, 1 when each head
    reads one slot)."""

    presentations: tuple[int, ...]
    accuracy: tuple[float, ...]
    counts: tuple[int, ...]
    own_reads: float = float("nan")
    reads: int = 0
    read_peak: float = float("nan")


def slot_owners(writes: torch.Tensor, zeroed: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Which class each slot holds before each step, as the memory view shows it.

    ``writes`` ``(B, T, N)`` write weights (summed over the heads), ``zeroed`` ``(B, T)`` the
    slot emptied at each step before its write, ``classes`` ``(B, T)``. Returns ``(B, T, N)``:
    at step ``t``, the class of the step ``t' < t`` that wrote the most to the slot since it was
    last emptied, or -1 (never written). Step ``t``'s own write does not count: its label is
    not in the memory yet."""
    batch, steps, slots = writes.shape
    owner = torch.full((batch, slots), -1, dtype=torch.long, device=writes.device)
    most = writes.new_zeros(batch, slots)
    out = []
    for t in range(steps):
        out.append(owner.clone())
        z = zeroed[:, t : t + 1]
        owner = owner.scatter(1, z, -1)
        most = most.scatter(1, z, 0.0)
        w = writes[:, t]
        newer = w > most
        owner = torch.where(newer, classes[:, t : t + 1].expand_as(owner), owner)
        most = torch.maximum(most, w)
    return torch.stack(out, 1)


def emptied_slots(usage: torch.Tensor) -> torch.Tensor:
    """``(B, T, N)`` usage after each step -> ``(B, T)`` the slot each step empties (the least
    used one after the step before; slot 0 at step 0)."""
    before = torch.cat([torch.zeros_like(usage[:, :1]), usage[:, :-1]], 1)
    return least_used(before.flatten(0, 1), 1).argmax(1).view(usage.shape[:2])


def own_class_reads(
    reads: torch.Tensor, writes: torch.Tensor, usage: torch.Tensor, classes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read attention on a sequence: ``reads``/``writes`` ``(B, T, N)`` weights summed over the
    heads, ``usage`` ``(B, T, N)`` after each step, ``classes`` ``(B, T)``. Returns ``(hits,
    counted)`` ``(B, T)`` booleans: ``counted`` at a class's 2nd or later presentation, ``hits``
    where the step's largest read weight falls on a slot whose owner (``slot_owners``) is the
    step's own class."""
    owners = slot_owners(writes, emptied_slots(usage), classes)
    top = reads.argmax(2, keepdim=True)
    hits = owners.gather(2, top).squeeze(2) == classes
    counted = presentation_index(classes) >= 2
    return hits & counted, counted


def presentation_index(targets: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` classes -> ``(B, T)``: 1 at a class's first step, 2 at its second, ..."""
    onehot = F.one_hot(targets)
    return (onehot.cumsum(1) * onehot).sum(2)


@torch.no_grad()
def presentation_accuracy(
    learner: MANN, episodes: Iterable[Episode], presentations: Sequence[int] = (1, 2, 3, 5, 10)
) -> PresentationAccuracy:
    """The paper's protocol: run each episode (e.g. 5-way, 10 images per class:
    ``EpisodeSpec(5, 1, 9)``) as a seeded sequence and score the prediction at every step by
    how many times its class has been presented. Order and label slots are those of
    ``meta_loss`` (seeded by the episode), so a step is never shown its own label."""
    learner.eval()
    hits = dict.fromkeys(presentations, 0)
    counts = dict.fromkeys(presentations, 0)
    own, reads, peak = 0, 0, 0.0
    for ep in episodes:
        logits, targets, trace = learner.episode_run([ep])
        right = logits.argmax(2) == targets
        index = presentation_index(targets)
        for k in presentations:
            hits[k] += int(right[index == k].sum())
            counts[k] += int((index == k).sum())
        r = torch.stack([m.read.sum(1) for m, _ in trace], 1)
        w = torch.stack([w.sum(1) for _, w in trace], 1)
        u = torch.stack([m.usage for m, _ in trace], 1)
        hit, counted = own_class_reads(r, w, u, targets)
        own, reads = own + int(hit.sum()), reads + int(counted.sum())
        largest = torch.stack([m.read.amax(2).mean(1) for m, _ in trace], 1)  # (B, T)
        peak += float(largest[counted].sum())
    acc = tuple(hits[k] / counts[k] if counts[k] else float("nan") for k in presentations)
    return PresentationAccuracy(
        tuple(presentations),
        acc,
        tuple(counts[k] for k in presentations),
        own / reads if reads else float("nan"),
        reads,
        peak / reads if reads else float("nan"),
    )
