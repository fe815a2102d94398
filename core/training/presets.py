"""Named training recipes: ``core.train --preset NAME`` stands for the flags below; flags given
after it on the command line override them. Each shipped checkpoint's recipe is one of these
(README, Results)."""

from __future__ import annotations

import shlex

# Meta-SGD's 5-way 1-5-shot episodes, validated at 20-way 5-shot: its fine-tune and averaging stages
_METASGD_5SHOT = (
    "--algorithm metasgd --train-subset trainval --ways 5 --shots 5 --vary-shots --queries 5 "
    "--meta-batch 8 --inner-steps 3 --inner-lr 0.1 --adapt-steps 10 --lr 5e-5 --val-ways 20 "
    "--val-shots 5 --val-every 250 --val-episodes 100"
)

# MetaNet on the shipped ProtoNet's Conv-4, 8,000 steps on the train + validation classes
_METANET_WARM_TRAINVAL = (
    "--algorithm metanet --init-backbone assets/checkpoints/protonet-omniglot.pt "
    "--train-subset trainval --ways 20 --shots 1 --queries 5 --episodes 8000 --lr 1e-4 "
    "--backbone-lr 0.1 --lr-step 3000 --val-every 1000 --val-episodes 200 --keep-every 1000"
)

PRESETS: dict[str, str] = {
    # Prototypical Networks, Vinyals split: the shipped protonet-omniglot.pt
    "protonet-vinyals": "--algorithm protonet --split vinyals --train-subset train "
    "--val-subset val --ways 60 --shots 5 --queries 5 --episodes 4000 --lr-step 2000",
    # easyfsl's recipe (issue 14's baseline): 60-way 1-shot on train+val
    "protonet-vinyals-trainval": "--algorithm protonet --split vinyals --train-subset trainval "
    "--val-subset val --ways 60 --shots 1 --queries 5 --episodes 8000 --lr-step 2000",
    # issue 14's fast recipe: easyfsl's episodes, plain Euclidean logits, bfloat16 convolutions
    # (benchmarks/time_to_accuracy.py)
    "protonet-vinyals-fast": "--algorithm protonet --split vinyals --train-subset trainval "
    "--val-subset val --ways 60 --shots 1 --queries 5 --episodes 8000 --lr-step 2000 "
    "--distance euclidean --amp bf16",
    # Lake's within-alphabet task: background alphabets only (protonet-omniglot-background.pt)
    "protonet-lake": "--algorithm protonet --split lake --train-subset train --val-subset val "
    "--ways 60 --shots 5 --queries 5 --episodes 3000 --lr-step 2000",
    # Lake: continue a background run (--init-backbone) on episodes shaped like the test
    "protonet-lake-within": "--algorithm protonet --split lake --train-subset train "
    "--val-subset val --ways 20 --shots 1 --queries 10 --within-alphabet --val-within-alphabet "
    "--val-ways 20 --val-shots 1 --val-queries 5 --val-every 250 --augment affine --lr 5e-4 "
    "--lr-step 1500 --episodes 3000",
    # issue 14's faster Lake recipe (~45 min instead of 168 for both stages, and more accurate):
    # Euclidean logits and bfloat16 convolutions, then the within-alphabet stage the same way
    "protonet-lake-fast": "--algorithm protonet --split lake --train-subset train "
    "--val-subset val --ways 60 --shots 5 --queries 5 --episodes 3000 --lr-step 2000 "
    "--val-every 250 --augment affine --distance euclidean --amp bf16",
    "protonet-lake-within-fast": "--algorithm protonet --split lake --train-subset train "
    "--val-subset val --ways 20 --shots 1 --queries 10 --within-alphabet --val-within-alphabet "
    "--val-ways 20 --val-shots 1 --val-queries 5 --val-every 250 --augment affine --lr 5e-4 "
    "--lr-step 1500 --episodes 6000 --distance euclidean --amp bf16",
    # ... then 6,000 more steps at a constant 1.25e-4 keeping a snapshot every 250, averaged
    # with core.average (stochastic weight averaging): protonet-omniglot-background.pt
    "protonet-lake-within-swa": "--algorithm protonet --split lake --train-subset train "
    "--val-subset val --ways 20 --shots 1 --queries 10 --within-alphabet --val-within-alphabet "
    "--val-ways 20 --val-shots 1 --val-queries 5 --val-every 250 --keep-every 250 "
    "--augment affine --lr 1.25e-4 --lr-step 100000 --episodes 6000 --seed 1 "
    "--distance euclidean --amp bf16",
    "matching-vinyals-trainval": "--algorithm matching --train-subset trainval --ways 60 "
    "--shots 1 --queries 5 --episodes 8000 --lr 0.001 --lr-step 2000 --val-every 500 "
    "--amp bf16",
    "relation-vinyals-trainval": "--algorithm relation --train-subset trainval --ways 20 "
    "--shots 1 --queries 10 --episodes 8000 --lr 0.001 --lr-step 2500 --val-every 1000 "
    "--amp bf16",
    "matching-vinyals": "--algorithm matching --ways 20 --shots 1 --queries 10 --episodes 4000 "
    "--lr 0.001 --lr-step 2500 --val-every 1000",
    "relation-vinyals": "--algorithm relation --ways 20 --shots 1 --queries 10 --episodes 4000 "
    "--lr 0.001 --lr-step 2500 --val-every 1000",
    "maml-vinyals": "--algorithm maml --ways 5 --shots 1 --queries 5 --meta-batch 8 "
    "--inner-steps 3 --inner-lr 0.4 --adapt-steps 10 --lr 1e-3 --episodes 10000 --lr-step 4000 "
    "--val-ways 5 --val-every 100 --val-episodes 100",
    "fomaml-vinyals": "--algorithm fomaml --ways 5 --shots 1 --queries 5 --meta-batch 8 "
    "--inner-steps 3 --inner-lr 0.4 --adapt-steps 10 --lr 1e-3 --episodes 10000 --lr-step 4000 "
    "--val-ways 5 --val-every 100 --val-episodes 100",
    "anil-vinyals": "--algorithm anil --ways 20 --shots 1 --queries 5 --meta-batch 4 "
    "--inner-steps 5 --inner-lr 0.1 --lr 1e-3 --episodes 20000 --lr-step 2000 --val-every 250 "
    "--val-episodes 100",
    "metasgd-vinyals": "--algorithm metasgd --ways 5 --shots 1 --queries 5 --meta-batch 8 "
    "--inner-steps 1 --inner-lr 0.4 --adapt-steps 1 --lr 1e-3 --episodes 10000 --lr-step 4000 "
    "--val-ways 5 --val-every 200 --val-episodes 100",
    "reptile-vinyals": "--algorithm reptile --ways 5 --shots 5 --queries 5 --meta-batch 5 "
    "--inner-steps 5 --inner-batch 10 --inner-lr 0.001 --adapt-steps 50 --optimizer sgd --lr 1 "
    "--lr-schedule linear --episodes 12000 --val-ways 5 --val-every 1000 --val-episodes 100",
    # issue 14: gradient learners meta-trained from the shipped ProtoNet's backbone (trained on the
    # same train+val classes); the shipped anil-, fomaml-, maml- and matching-omniglot.pt
    "anil-vinyals-from-protonet": "--algorithm anil --train-subset trainval --ways 20 --shots 1 "
    "--queries 5 --meta-batch 4 --inner-steps 5 --inner-lr 0.1 --lr 5e-4 --lr-step 500 "
    "--episodes 1500 --val-every 250 --val-episodes 100 "
    "--init-backbone assets/checkpoints/protonet-omniglot.pt",
    "fomaml-vinyals-from-protonet": "--algorithm fomaml --train-subset trainval --ways 5 "
    "--shots 1 --queries 5 --meta-batch 8 --inner-steps 3 --inner-lr 0.1 --adapt-steps 10 "
    "--lr 5e-4 --lr-step 500 --episodes 1000 --val-ways 5 --val-every 250 --val-episodes 100 "
    "--init-backbone assets/checkpoints/protonet-omniglot.pt",
    "maml-vinyals-from-protonet": "--algorithm maml --train-subset trainval --ways 5 --shots 1 "
    "--queries 5 --meta-batch 8 --inner-steps 3 --inner-lr 0.1 --adapt-steps 10 --lr 5e-4 "
    "--lr-step 500 --episodes 1000 --val-ways 5 --val-every 250 --val-episodes 100 "
    "--init-backbone assets/checkpoints/protonet-omniglot.pt",
    # ... then 1,000 steps on 5-way 1-5-shot episodes at a constant 1e-4 from that file, a
    # snapshot every 250 averaged with core.average: maml-omniglot.pt (98.48 / 99.65 / 96.03 /
    # 98.99; transductive 98.83 / 99.69 / 96.28 / 99.02; the file before: 98.48 / 99.61 / 96.04 /
    # 98.83)
    "maml-vinyals-5shot-swa": "--algorithm maml --train-subset trainval --ways 5 --shots 5 "
    "--vary-shots --queries 5 --meta-batch 8 --inner-steps 3 --inner-lr 0.1 --adapt-steps 10 "
    "--lr 1e-4 --lr-step 100000 --episodes 1000 --val-ways 20 --val-shots 5 --val-every 250 "
    "--keep-every 250 --val-episodes 100 --seed 1",
    # Reptile the same way with an SGD inner loop (the paper's Adam inner loop from the same
    # start: 89.8 % 5w1s); reptile-omniglot.pt, 98.13 / 99.62 / 95.49 / 98.72
    "reptile-vinyals-from-protonet": "--algorithm reptile --train-subset trainval --ways 5 "
    "--shots 5 --queries 5 --meta-batch 5 --inner-steps 5 --inner-batch 10 --inner-optimizer sgd "
    "--inner-lr 0.1 --adapt-steps 10 --optimizer sgd --lr 1 --lr-schedule linear --episodes 3000 "
    "--val-ways 5 --val-every 500 --val-episodes 100 "
    "--init-backbone assets/checkpoints/protonet-omniglot.pt",
    # Meta-SGD from the shipped MAML's whole network (backbone and head row; its learned rates
    # start at MAML's 0.1, so step 0 is that MAML). The shipped Meta-SGD started from the MAML
    # file before its 5-shot averaging (git show ef3df9a:assets/checkpoints/maml-omniglot.pt)
    "metasgd-vinyals-from-maml": "--algorithm metasgd --train-subset trainval --ways 5 "
    "--shots 1 --queries 5 --meta-batch 8 --inner-steps 3 --inner-lr 0.1 --adapt-steps 10 "
    "--lr 1e-4 --lr-step 500 --episodes 1000 --val-ways 5 --val-every 250 --val-episodes 100 "
    "--init-backbone assets/checkpoints/maml-omniglot.pt",
    # ... then fine-tuned on 5-way 1-5-shot episodes, validated at 20-way 5-shot, from that run's
    # best.pt (--init-backbone copies the learned rates too): 98.50 / 99.62 / 96.13 / 98.71
    # (the file before: 98.45 / 99.59 / 96.19 / 98.43)
    "metasgd-vinyals-5shot-finetune": _METASGD_5SHOT + " --lr-step 500 --episodes 1000",
    # ... then 2,000 more steps of the same episodes at a constant 5e-5 keeping a snapshot every
    # 250, averaged with core.average (from the 5-shot fine-tuned file): metasgd-omniglot.pt
    # (98.53 / 99.63 / 96.10 / 98.83; transductive 98.85 / 99.63 / 96.35 / 98.85)
    "metasgd-vinyals-5shot-swa": _METASGD_5SHOT
    + " --lr-step 100000 --episodes 2000 --keep-every 250 --seed 1",
    # Relation Networks from the ProtoNet's Conv-4 (its relation module starts fresh): 60-way
    # episodes with 1-5 shots, cross-entropy over relation scores, lr halved every 2,500;
    # the relation-omniglot.pt before (98.96 / 99.75 / 97.11 / 99.26)
    "relation-vinyals-from-protonet": "--algorithm relation --train-subset trainval --ways 60 "
    "--shots 5 --vary-shots --queries 5 --loss ce --episodes 12000 --lr 0.001 --lr-step 2500 "
    "--val-every 500 --val-episodes 100 --amp bf16 "
    "--init-backbone assets/checkpoints/protonet-omniglot.pt",
    # ... then fine-tuned on 60-way 1-shot episodes from that run's last.pt (--init-backbone,
    # which copies the relation module too): 98.95 / 99.75 / 97.22 / 99.27
    "relation-vinyals-1shot-finetune": "--algorithm relation --train-subset trainval --ways 60 "
    "--shots 1 --queries 5 --loss ce --episodes 3000 --lr 1e-4 --lr-step 1000 --val-every 500 "
    "--val-episodes 100 --amp bf16",
    # ... then 3,000 more steps at a constant 1e-4 keeping a snapshot every 250, averaged with
    # core.average (stochastic weight averaging): relation-omniglot.pt
    # (98.98 / 99.75 / 97.26 / 99.27)
    "relation-vinyals-1shot-swa": "--algorithm relation --train-subset trainval --ways 60 "
    "--shots 1 --queries 5 --loss ce --episodes 3000 --lr 1e-4 --lr-step 100000 --val-every 250 "
    "--keep-every 250 --val-episodes 100 --amp bf16 --seed 1",
    # Matching Networks the same way, cosine scale 30 (scale 10 from the same start: 93.32 %
    # instead of 96.25 at 20w1s, docs/accuracy.md)
    "matching-vinyals-from-protonet": "--algorithm matching --scale 30 --train-subset trainval "
    "--ways 60 --shots 1 --queries 5 --lr 5e-4 --lr-step 500 --episodes 1500 --val-every 250 "
    "--val-episodes 100 --amp bf16 --init-backbone assets/checkpoints/protonet-omniglot.pt",
    # issue 12's learners (docs/model-based-learners.md); metanet/metalstm on the Vinyals
    # split, mann and siamese on Lake's 30 background alphabets (their papers' protocols)
    "metanet-vinyals": "--algorithm metanet --ways 20 --shots 1 --queries 5 --episodes 20000 "
    "--lr 1e-3 --lr-step 3000 --val-every 500 --val-episodes 200",
    "metalstm-vinyals": "--algorithm metalstm --hidden 32 --ways 5 --shots 1 --queries 15 "
    "--episodes 20000 --lr 1e-3 --lr-step 5000 --val-ways 5 --val-every 250 --val-episodes 100",
    # issue 33: Meta-LSTM warm-started from MAML's meta-learned Conv-4 (trained on the same
    # Vinyals training classes): the LSTM optimiser starts as plain SGD (forget-gate bias 4-6,
    # input-gate bias -5..-4) on MAML's initialisation, and learns the update and the
    # initialisation from there, slowly: at Adam 1e-3 the LSTM raised its step sizes until
    # some tasks' inner loops diverged (losses of 5-12 from step 160, validation 99 % at step 40,
    # 86 % at 250; with the backbone at 1/100 of it, 69 %). From scratch (metalstm-vinyals):
    # 90.50 %
    "metalstm-vinyals-warm": "--algorithm metalstm --hidden 64 --init-backbone "
    "assets/checkpoints/maml-omniglot.pt --ways 5 --shots 1 --queries 15 --episodes 1000 "
    "--lr 1e-4 --backbone-lr 0.1 --lr-step 500 --val-ways 5 --val-every 100 "
    "--val-episodes 200",
    # issue 33: MetaNet on the shipped ProtoNet's Conv-4 (same Vinyals classes), the backbone at
    # 1/10 of a small rate while the fast-weight parts learn (from scratch, metanet-vinyals:
    # 98.05 / 94.22 % after 20,000 steps)
    "metanet-vinyals-warm": "--algorithm metanet --init-backbone "
    "assets/checkpoints/protonet-omniglot.pt --ways 20 --shots 1 --queries 5 --episodes 1500 "
    "--lr 1e-4 --backbone-lr 0.1 --lr-step 750 --val-every 250 --val-episodes 200",
    # the same, longer and on the training + validation classes (as the source ProtoNet): the
    # shipped metanet-omniglot.pt of 7 December, night (its last file; 20w1s 96.10 %)
    "metanet-vinyals-warm-trainval": _METANET_WARM_TRAINVAL,
    # the same with a 256-unit augmented hidden layer (64 before): the shipped metanet-omniglot.pt
    # since 8 December (its last file; 20w1s 96.41 %)
    "metanet-vinyals-warm-wide": _METANET_WARM_TRAINVAL + " --width 256",
    "mann-lake": "--algorithm mann --split lake --train-subset train --val-subset val --ways 5 "
    "--shots 1 --queries 9 --meta-batch 4 --episodes 20000 --lr 1e-3 --lr-step 8000 "
    "--val-ways 5 --val-shots 1 --val-queries 9 --val-every 500 --val-episodes 100",
    # issue 33: MANN as its reproductions train it: reads address the memory before the step's
    # write (--read before), each class of a sequence turned by a random multiple of 90 degrees
    # and each image slightly rotated and shifted (--distortions, the learner's default), 16
    # sequences of 50 steps per update, Adam 1e-3, 20 x 20 images as in the paper; starts from a
    # Conv-4 ProtoNet trained on the same Lake background classes (the shipped Lake file is a
    # ResNet-12); bfloat16 convolutions (the controller and memory stay float32). On one CPU
    # thread: ~35 sequences/s (fp32 at 28 px: ~8), so 20,000 updates (320,000 sequences) take
    # about 2.5 h. Run in sessions of --max-minutes, then --resume --out the same folder
    # (docs/model-based-learners.md, MANN)
    "mann-lake-v2": "--algorithm mann --read before --split lake --train-subset train "
    "--val-subset val --ways 5 --shots 1 --queries 9 --meta-batch 16 --episodes 20000 --lr 1e-3 "
    "--lr-step 10000 --val-ways 5 --val-shots 1 --val-queries 9 --val-every 500 "
    "--val-episodes 200 --keep-every 2500 --amp bf16 --input-size 20 "
    "--init-backbone assets/resumable/protonet-lake-affine/best.pt",
    # issue 33: MANN on drawings. The Omniglot MANN falls apart on letters, kana and kanji (5-way
    # 1-shot ~50 % on held-out glyphs): continued on the drawings mix (Omniglot's background
    # alphabets + glyphs + KanjiVG) with the drawing augmentation. Needs the caches built at 20 px
    # (`python -m core.data.glyphs build --size 20`) and omniglot/ under one --data-root. The
    # shipped mann-drawings.pt started from the 33,000-update mann-omniglot.pt (8 December)
    "mann-drawings": "--algorithm mann --read before --dataset drawings --train-subset train "
    "--val-subset val --ways 5 --shots 1 --queries 9 --meta-batch 16 --episodes 8000 "
    "--lr 2.5e-4 --lr-step 4000 --val-ways 5 --val-shots 1 --val-queries 9 --val-every 500 "
    "--val-episodes 200 --keep-every 1000 --amp bf16 --input-size 20 --augment drawing "
    "--init-backbone assets/checkpoints/mann-omniglot.pt",
    "siamese-lake": "--algorithm siamese --split lake --train-subset train --val-subset val "
    "--ways 20 --shots 2 --queries 3 --meta-batch 4 --episodes 9000 --val-every 500 "
    "--val-episodes 200",
    # issue 33: the Siamese twin on the background ProtoNet's ResNet-12 (the same 30 background
    # alphabets) with the paper's 4,096-unit feature layer, the backbone at 1/50 of the rate;
    # validated on Lake's within-alphabet 20-way 1-shot task. The shipped siamese-omniglot.pt is
    # `core.average` of its step-1500/2000/2500/3000 files (--keep-every 500). Before the
    # offset's own rate (--offset-lr, issue 33) this recipe fell from 90 % to 48 % by step 250
    "siamese-lake-from-protonet": "--algorithm siamese --split lake --train-subset train "
    "--val-subset val --backbone resnet12 --hidden 32 --features 4096 --init-backbone "
    "assets/checkpoints/protonet-omniglot-background.pt --ways 20 --shots 2 --queries 3 "
    "--episodes 3000 --lr 1e-3 --backbone-lr 0.02 --lr-step 1000 --val-every 250 "
    "--val-episodes 200 --keep-every 500 --val-within-alphabet",
    # issue 34's drawing generalist: the Lake background ProtoNet (ResNet-12) continued on the
    # drawings mix (Omniglot's background alphabets + glyphs + KanjiVG, members balanced) with the
    # drawing augmentation; needs the caches of `python -m core.data.glyphs build` and omniglot/
    # under one --data-root (docs/glyphs.md). ~40-90 steps/min on one busy CPU thread: run in
    # sessions of --max-minutes, then --resume --out the same folder
    "protonet-drawings": "--algorithm protonet --dataset drawings --backbone resnet12 "
    "--hidden 32 --distance euclidean --amp bf16 --ways 20 --shots 1 --queries 10 --val-ways 20 "
    "--val-shots 1 --val-queries 5 --val-episodes 200 --val-every 500 --keep-every 500 "
    "--augment drawing --lr 5e-4 --lr-step 3000 --lr-gamma 0.5 --episodes 9000 "
    "--init-backbone assets/checkpoints/protonet-omniglot-background.pt",
}


def expand(argv: list[str]) -> list[str]:
    """``argv`` with ``--preset NAME`` (or ``--preset=NAME``) replaced by the preset's flags, put
    first so that the flags given on the command line win. ValueError for an unknown name."""
    words = [w for a in argv for w in (a.split("=", 1) if a.startswith("--preset=") else [a])]
    out, presets = [], []
    it = iter(words)
    for word in it:
        if word != "--preset":
            out.append(word)
            continue
        name = next(it, "")
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        presets += shlex.split(PRESETS[name])
    return [*presets, *out]
