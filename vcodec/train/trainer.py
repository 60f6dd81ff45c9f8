"""The training loop: devices, DDP, clocks, checkpoints, signals, the schedule, validation, resumption.

What a step optimises is the task's (``vcodec.train.tasks``; the image RD task by default). One step:

    batch = batch(step)                       # a pure function of (seed, rank, step): see vcodec.datasets
    loss = task.loss(net, model, batch)       # image: mean_i w_i * (lmbda(q_i) * 255^2 * MSE_i + bpp_i)
    backward -> clip the gradient norm -> Adam step, skipped when the norm is not finite
    aux_loss (EntropyBottleneck quantiles) -> backward -> its own Adam step

A checkpoint (``OUT/last.pt``) holds the model, both optimizers, the step and the elapsed training time
(which place the run on its schedule) and every rank's RNG states (the quantisation noise), so a
resumed run continues exactly where the saved one stood.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from vcodec.datasets import StepBatches, derived_seed
from vcodec.errors import VcodecError
from vcodec import zoo
from vcodec.devices import bf16_is_fast
from vcodec.train import checkpoint, schedule
from vcodec.train.config import TrainConfig, merge, plan, to_dict
from vcodec.train.tasks import make_task

LAST = "last.pt"
LOG = "log.jsonl"
# First guess of the time a checkpoint save takes, before one has been timed: a fixed cost plus the
# checkpoint's bytes (weights and two Adam moments, fp32) at a slow disk's 50 MB/s.
SAVE_SECONDS_FIXED, SAVE_BYTES_PER_S = 0.5, 50e6


def _is_quantile(name: str) -> bool:
    # CompressAI's convention: the EntropyBottleneck's quantiles learn from the auxiliary loss only.
    return name.endswith("quantiles")


def hardware(device: torch.device, world: int) -> str:
    if device.type == "cuda":
        return f"{world} x {torch.cuda.get_device_name(device)}"
    cpu = platform.processor() or platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {torch.get_num_threads()} threads" + (f" x {world} processes" if world > 1 else "")


def _changes(rows: tuple[str, ...]) -> dict:
    """{"spatial_context": 64} of ("spatial_context=64",): integers, else numbers."""
    changes = {}
    for row in rows:
        key, _, value = row.partition("=")
        try:
            changes[key.strip()] = int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:  # no "=", or not a number
            raise VcodecError(f"--grow takes KEY=NUMBER, got {row!r}") from None
    return changes


class Trainer:
    def __init__(self, cfg: TrainConfig, ckpt: dict | None = None):
        if not cfg.data:
            raise VcodecError("no training data: give --data FOLDER")
        if not cfg.out:
            raise VcodecError("no output folder: give --out DIR (checkpoints and the log go there)")
        self.cfg = cfg
        self.rows = schedule.parse(cfg.schedule)
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo")
        self.rank = dist.get_rank() if self.world > 1 else 0
        local = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(cfg.device or (f"cuda:{local}" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.out = Path(cfg.out)
        self.main = self.rank == 0

        # Model: identical initial weights on every rank (same seed), then per-rank noise below.
        torch.manual_seed(cfg.seed)
        self.task = make_task(cfg)
        self.model = self.task.build_model(cfg.init_weights if ckpt is None else None)
        if cfg.grow:
            self.model = zoo.grow(self.model, _changes(cfg.grow))
        self.model.to(self.device).train()
        named = dict(self.model.named_parameters())
        frozen = tuple(cfg.freeze)
        for n, p in named.items():
            if frozen and n.startswith(frozen):
                p.requires_grad_(False)
        self.task.bind(self.model, self.device)
        # Data: only --data is read, and never a test set (the task refuses them).
        self.dataset, self.data_info = self.task.data(self.rank, self.main)
        self.net_names = [n for n, p in named.items() if not _is_quantile(n) and p.requires_grad]
        self.net_params = [named[n] for n in self.net_names]
        if not self.net_params:
            raise VcodecError(f"--freeze {','.join(frozen)} leaves nothing to train")
        self.opt = torch.optim.Adam(self.net_params, lr=cfg.lr)
        # Exponential moving average of the weights (EMA, decay cfg.ema): exported with --ema.
        self.ema = [p.detach().clone() for p in self.net_params] if cfg.ema else None
        self.aux_opt = torch.optim.Adam([p for n, p in named.items() if _is_quantile(n)], lr=cfg.aux_lr)

        self.step, self.elapsed0, self.train_seconds, self.samples, self.skipped = 0, 0.0, 0.0, 0, 0
        self.last_val: dict | None = None
        if ckpt is not None:
            self._load(ckpt)
        else:
            torch.manual_seed(derived_seed(cfg.seed, self.rank, "noise"))

        cuda = self.device.type == "cuda"
        workers = cfg.workers if cfg.workers is not None else (min(4, os.cpu_count() or 1) if cuda else 0)
        # A generator of its own: the loader draws a base seed from it at every iter(), which would otherwise
        # advance the global RNG (the quantisation noise) and break exact resumption.
        self.loader = DataLoader(self.dataset, batch_sampler=StepBatches(cfg.batch_size, self.step),
                                 num_workers=workers, pin_memory=cuda, persistent_workers=workers > 0,
                                 generator=torch.Generator().manual_seed(cfg.seed))

        self.net = self.model
        if self.world > 1:
            # The quantiles get no gradient from the RD loss; DDP would wait for it. Their aux loss is a
            # function of replicated tensors, so every rank takes the same aux step without a reduce.
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
                self.model, [n for n in named if _is_quantile(n)])
            self.net = DistributedDataParallel(self.model, device_ids=[self.device] if cuda else None)
        self.amp = cfg.amp and bf16_is_fast(self.device.type)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.model.to(memory_format=self.memory_format)
        if self.amp:
            # The entropy models take small probabilities as differences of CDF values, which bf16 would
            # round away: they run in fp32 (custom_fwd turns autocast off and casts their inputs).
            for module in (self.model.entropy_bottleneck, self.model.gaussian_conditional):
                module.forward = torch.amp.custom_fwd(module.forward, device_type=self.device.type,
                                                      cast_inputs=torch.float32)
        if cfg.compile and cuda:
            self.net = torch.compile(self.net)

        self.n_params = sum(p.numel() for p in self.model.parameters())
        self.step_time, self.val_time = 0.0, 0.0
        self.t0 = self.last_save = time.monotonic()  # run() restarts both clocks
        self.save_time = SAVE_SECONDS_FIXED + 12 * self.n_params / SAVE_BYTES_PER_S
        self.stop_signal: str | None = None

    # -- state ----------------------------------------------------------------------------------------

    def _rng_state(self) -> dict:
        state = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _load(self, ckpt: dict) -> None:
        zoo.load_state_dict(self.model, ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.aux_opt.load_state_dict(ckpt["aux_optimizer"])
        self.step, self.elapsed0 = ckpt["step"], ckpt["elapsed"]
        self.train_seconds, self.samples, self.skipped = ckpt["train_seconds"], ckpt["samples"], ckpt["skipped"]
        self.last_val = ckpt.get("validation")
        if self.ema is not None and ckpt.get("ema"):
            for e, name in zip(self.ema, self.net_names):
                e.copy_(ckpt["ema"][name])
        rng = ckpt.get("rng", [])
        if len(rng) == self.world:
            torch.set_rng_state(rng[self.rank]["cpu"])
            if self.device.type == "cuda" and "cuda" in rng[self.rank]:
                torch.cuda.set_rng_state(rng[self.rank]["cuda"], self.device)
        else:  # resumed on another number of processes: a fresh, still deterministic, stream per rank
            torch.manual_seed(derived_seed(self.cfg.seed, self.rank, "noise", self.step))

    def state(self) -> dict:
        """The checkpoint; a collective call under DDP (the RNG states of every rank are gathered)."""
        rng = [self._rng_state()]
        if self.world > 1:
            rng = [None] * self.world
            dist.all_gather_object(rng, {k: v.cpu() for k, v in self._rng_state().items()})
        return {
            "format": checkpoint.FORMAT, "version": checkpoint.VERSION, "config": to_dict(self.cfg),
            "model_config": zoo.config_to_dict(self.model.cfg), "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            "aux_optimizer": self.aux_opt.state_dict(), "step": self.step, "elapsed": self.elapsed(),
            "train_seconds": self.train_seconds, "samples": self.samples, "skipped": self.skipped,
            "rng": rng, "world_size": self.world, "data": self.data_info, "validation": self.last_val,
            "hardware": hardware(self.device, self.world),
            "ema": dict(zip(self.net_names, self.ema)) if self.ema is not None else None, "ema_decay": self.cfg.ema,
        }

    def save(self) -> Path:
        t = time.monotonic()
        state = self.state()
        path = self.out / LAST
        if self.main:
            checkpoint.save_atomic(state, path)
            self.log({"event": "checkpoint", "step": self.step, "path": str(path)})
        self.save_time = time.monotonic() - t
        self.last_save = time.monotonic()
        return path

    # -- progress -------------------------------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds of training over all sessions of this run."""
        return self.elapsed0 + time.monotonic() - self.t0

    def progress(self) -> float:
        """Fraction of the run done: by steps, or by time when the run is planned in minutes."""
        if self.cfg.steps is not None:
            return self.step / self.cfg.steps
        return self.elapsed() / (60 * self.cfg.minutes)

    def lr(self) -> float:
        return schedule.learning_rate(self.cfg.lr, self.rows, self.progress(), self.step, self.cfg.warmup)

    def log(self, record: dict) -> None:
        if self.main:
            with open(self.out / LOG, "a") as f:
                f.write(json.dumps(record) + "\n")

    # -- steps ----------------------------------------------------------------------------------------

    def train_step(self, batch) -> dict | None:
        """One optimisation step; None when it was skipped for a non-finite loss or gradient."""
        batch = self.task.batch_to(batch, self.device, self.memory_format)
        for group in self.opt.param_groups:
            group["lr"] = self.lr()
        self.opt.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            res = self.task.loss(self.net, self.model, batch)
        res["loss"].backward()
        norm = torch.nn.utils.clip_grad_norm_(self.net_params, self.cfg.clip)
        finite = bool(torch.isfinite(norm) & torch.isfinite(res["loss"]))  # the one host sync of a step
        if finite:
            self.opt.step()
            if self.ema is not None:
                torch._foreach_lerp_(self.ema, [p.detach() for p in self.net_params], 1.0 - self.cfg.ema)
        else:
            self.skipped += 1
            self.opt.zero_grad(set_to_none=True)
        self.aux_opt.zero_grad(set_to_none=True)
        aux = self.model.aux_loss()
        aux.backward()
        if torch.isfinite(aux):
            self.aux_opt.step()
        if not finite:
            return None
        return {**self.task.metrics(res), "aux": aux.item(), "grad_norm": norm.item()}

    def validate(self) -> dict:
        t = time.monotonic()
        if self.main:
            self.last_val = {"step": self.step, **self.task.validate(self.model, self.device)}
            self.log({"event": "val", "elapsed": round(self.elapsed(), 1), **self.last_val})
            if self.ema is not None and self.cfg.val_ema:
                with self.ema_weights():
                    rows = self.task.validate(self.model, self.device)
                self.log({"event": "val_ema", "elapsed": round(self.elapsed(), 1), "step": self.step, **rows})
        self.val_time = time.monotonic() - t
        return self.last_val

    @contextlib.contextmanager
    def ema_weights(self):
        """The model holds the EMA weights inside the block, its own weights again after it."""
        saved = [p.detach().clone() for p in self.net_params]
        with torch.no_grad():
            for p, e in zip(self.net_params, self.ema):
                p.copy_(e)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, s in zip(self.net_params, saved):
                    p.copy_(s)

    def _stop_reason(self) -> str | None:
        cfg = self.cfg
        if self.progress() >= 1.0:
            return "done"
        if cfg.stop_at is not None and self.step >= cfg.stop_at:
            return "stop_at"
        if self.stop_signal:
            return self.stop_signal
        if cfg.time_budget is not None:
            left = self.t0 + 60 * cfg.time_budget - time.monotonic()
            if left < 1.5 * self.step_time + self.save_time + (self.val_time if cfg.val_every else 0.0):
                return "time_budget"
        return None

    def _decide(self) -> tuple[str | None, bool]:
        """(why to stop, or None; whether to checkpoint now). Both depend on clocks, which differ between
        DDP ranks, and saving is collective: rank 0 decides for all."""
        cfg = self.cfg
        save = bool(cfg.ckpt_every and self.step % cfg.ckpt_every == 0) or bool(
            cfg.ckpt_minutes and time.monotonic() - self.last_save >= 60 * cfg.ckpt_minutes)
        decision = [self._stop_reason(), save]
        if self.world > 1:
            dist.broadcast_object_list(decision, src=0)
        return decision[0], decision[1]

    def run(self) -> str:
        """Train until the run is done, the time budget runs out, ``stop_at`` or a signal; save; return why."""
        cfg = self.cfg
        self.t0 = self.last_save = time.monotonic()
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
        self.log({"event": "start", "step": self.step, "config": to_dict(cfg),
                  "data": {**self.data_info, "val_images": len(self.data_info["val_images"])},
                  "hardware": hardware(self.device, self.world), "params": self.n_params})
        previous = {}

        def on_signal(signum, frame):
            self.stop_signal = signal.Signals(signum).name

        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread: no handlers, the caller owns signals
            pass
        try:
            return self._loop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _loop(self) -> str:
        cfg = self.cfg
        if cfg.val_every and (self.last_val is None or self.last_val["step"] != self.step):
            self.validate()  # the start of the curve, and a measure of how long validation takes
        bar = tqdm(total=cfg.steps, initial=self.step, unit="step", disable=not (cfg.progress and self.main),
                   mininterval=1.0 if os.isatty(2) else 60.0, dynamic_ncols=True)
        batches, start = iter(self.loader), self.step
        acc, n_acc, seconds_log, samples_log = {}, 0, 0.0, 0
        while True:
            reason, save = self._decide()
            if reason is not None:
                break
            if save and self.step > start:
                self.save()
            batch = next(batches)
            t = time.monotonic()
            lr = self.lr()
            metrics = self.train_step(batch)
            dt = time.monotonic() - t
            self.step += 1
            self.train_seconds += dt
            n = len(batch[0]) * self.world
            self.samples += n
            samples_log += n
            seconds_log += dt
            self.step_time = dt if self.step_time == 0 else 0.9 * self.step_time + 0.1 * dt
            bar.update(1)
            if metrics is None:
                self.log({"event": "skip", "step": self.step, "reason": "non-finite loss or gradient"})
            else:
                for k, v in metrics.items():
                    acc[k] = acc.get(k, 0.0) + v
                n_acc += 1
                bar.set_postfix(loss=f"{metrics['loss']:.3f}", bpp=f"{metrics['bpp']:.3f}",
                                psnr=f"{metrics['psnr']:.2f}", lr=f"{lr:.1e}", run=f"{self.progress():.1%}",
                                refresh=False)
            if self.step % cfg.log_every == 0:
                record = {k: round(v / max(n_acc, 1), 6) for k, v in acc.items()}
                self.log({"event": "train", "step": self.step, "elapsed": round(self.elapsed(), 1), "lr": lr, **record,
                          "samples_per_s": round(samples_log / seconds_log, 3), "skipped": self.skipped,
                          "progress": round(self.progress(), 4)})
                acc, n_acc, seconds_log, samples_log = {}, 0, 0.0, 0
            if cfg.val_every and self.step % cfg.val_every == 0:
                self.validate()
        bar.close()
        # A signal asks for a quick exit: save at once; the other stops end the curve with a validation.
        if cfg.val_every and not reason.startswith("SIG") and self.last_val and self.last_val["step"] != self.step:
            self.validate()
        self.save()
        self.log({"event": "stop", "step": self.step, "reason": reason, "elapsed": round(self.elapsed(), 1),
                  "samples_per_s": round(self.samples / max(self.train_seconds, 1e-9), 3), "skipped": self.skipped})
        return reason


def from_options(given: dict) -> Trainer:
    """The trainer for the options given (TrainConfig field names): a new run, or with ``resume`` the
    checkpoint's run with only the options given now changed."""
    ckpt = checkpoint.load(given["resume"]) if given.get("resume") else None
    cfg = plan(merge(ckpt["config"], given) if ckpt else TrainConfig(**given))
    return Trainer(cfg, ckpt)

