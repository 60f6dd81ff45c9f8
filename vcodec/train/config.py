"""The training recipe as one dataclass: the CLI fills it, checkpoints store it, a resumed run reads it back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

# A from-scratch run ramps the learning rate over this many steps; a run started from trained weights
# (fresh optimizer, no Adam moments yet) over fewer: the weights are already good, only Adam's
# second-moment estimates need a few steps to settle.
WARMUP_SCRATCH = 500
WARMUP_INIT = 100
# Steps of a run given neither --steps, --minutes nor --time-budget.
DEFAULT_STEPS = 200_000


@dataclass(frozen=True)
class TrainConfig:
    task: str = "image"  # what a step optimises (vcodec.train.tasks): image or video
    photos: str = ""  # video task: stills for synthetic motion (the image training folder)
    intra_model: str = "vcodec-base"  # video task: the frozen image model of the I-frames
    sequence_length: int = 3  # video task: frames a sequence (an I-frame, then P-frames)
    synthetic_share: float = 0.5  # video task: share of sequences made from photos
    model: str = "vcodec-base"
    data: str = ""
    out: str = ""
    # Length of the run, which the schedule's fractions refer to: steps, or minutes of training.
    steps: int | None = None
    minutes: float | None = None
    patch_size: int = 256
    min_scale: float = 0.5
    batch_size: int = 8
    lr: float = 1e-4
    aux_lr: float = 1e-3
    schedule: str = "default"
    warmup: int | None = None  # None: WARMUP_SCRATCH, or WARMUP_INIT with init_weights
    clip: float = 1.0  # max gradient norm, as CompressAI's example trainer
    level_weight: float = 0.0  # power p of the per-sample loss weight lmbda**-p (losses.level_weights)
    # KEY=VALUE changes to the model's configuration that add zero-started modules to the weights it
    # starts from (vcodec.zoo.grow), e.g. spatial_context=64: the checkerboard context
    grow: tuple[str, ...] = ()
    # The weights a new run starts from. Part of the run's record (the export's recipe): a resumed run starts
    # from its checkpoint and never loads them again.
    init_weights: str | None = None
    freeze: tuple[str, ...] = ()  # parameter-name prefixes that do not train (e.g. g_a, g_s: a cheap phase)
    ema: float = 0.999  # decay of the exponential moving average of the weights (0: none); export --ema
    val_ema: bool = True  # validate the EMA weights too
    val_fraction: float = 0.05
    val_images: int = 8
    val_levels: tuple[int, ...] | None = None  # None: every level
    val_every: int = 500  # steps; 0 turns validation off
    log_every: int = 50
    ckpt_minutes: float = 5.0
    ckpt_every: int = 0  # steps; 0: by time only
    seed: int = 0
    amp: bool = True  # bf16 autocast, on CUDA and on CPUs with native bf16 (trainer.bf16_is_fast)
    channels_last: bool = True  # NHWC activations: faster convolutions on both
    compile: bool = True  # torch.compile, CUDA only (on the CPU it gained nothing after a 5-minute compile)
    # Options of one process, not of the run: never taken over from a checkpoint on --resume.
    resume: str | None = None
    time_budget: float | None = None  # minutes this process may run, saving before the deadline
    stop_at: int | None = None  # save and stop after this step (a planned pause)
    threads: int | None = None
    workers: int | None = None
    device: str | None = None
    progress: bool = True


SESSION_FIELDS = ("resume", "time_budget", "stop_at", "threads", "workers", "device", "progress")
FIELDS = tuple(f.name for f in fields(TrainConfig))


def merge(stored: dict, given: dict) -> TrainConfig:
    """The config of a resumed run: the stored recipe, then the options given now on top."""
    base = {k: v for k, v in stored.items() if k in FIELDS and k not in SESSION_FIELDS}
    base = {k: tuple(v) if isinstance(v, list) else v for k, v in base.items()}  # JSON gave lists back
    return replace(TrainConfig(**base), **given)


def plan(cfg: TrainConfig) -> TrainConfig:
    """Fill in the run length and the warmup where the user left them open."""
    if cfg.steps is None and cfg.minutes is None:
        cfg = replace(cfg, minutes=cfg.time_budget) if cfg.time_budget else replace(cfg, steps=DEFAULT_STEPS)
    if cfg.warmup is None:
        cfg = replace(cfg, warmup=WARMUP_INIT if cfg.init_weights else WARMUP_SCRATCH)
    return cfg


def to_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)
