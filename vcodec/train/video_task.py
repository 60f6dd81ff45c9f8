"""The video training task: the P-frame model on short sequences, each coded as the codec codes a clip.

    frame 0:  the image model (frozen), in eval mode: x_hat_0 rounded to 8 bits, as the decoder has it
    frame t:  p_t = compensate(x_hat_{t-1}, vectors_t)        vectors searched on the source frames
              P model forward given p_t (noise for z, straight-through rounding for y, as images train)
              loss_t = w * (lambda * 255^2 * MSE_t + bpp_t);   x_hat_t detached, rounded: the next reference
    loss = mean over t of loss_t

When only the entropy model trains (``--freeze`` leaves only the model's ``rate_only_prefixes``: the
hyperprior, slice networks, temporal prior, spatial context, z's density), loss_t is bpp_t and the last
frame stops before the synthesis, as the image task's rate-only phase does.

The reference is detached after each frame (Li, Li & Lu, 2024, DCVC-FM / DCVC-UF recipe of short
sequences), so a step costs one forward and backward per P-frame. Data: ``--data`` is a folder of clips
(folders of numbered frames; the Vimeo sample) and ``--photos`` a folder of stills for synthetic motion
(``vcodec.datasets.video``); the held-out split of each (the same file-name hash as the image task) is
kept for validation, where sequences are coded with motion searched on the decoded frames, as the
encoder does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vcodec import zoo
from vcodec.datasets import list_images, split
from vcodec.datasets.video import VideoSequences, is_held_out_clip, list_clips, synthetic_clip
from vcodec.errors import VcodecError
from vcodec.train.losses import bpp as bits_per_pixel, level_weights, psnr, rate_loss, rd_loss
from vcodec.train.tasks import refuse_test_sets, trains_rate_only
from vcodec.video import motion
from vcodec.video.motion import MOTION_LAMBDA

def _round8(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x.clamp(0, 1) * 255 + 0.5) / 255


class VideoRD:
    name = "video"

    def __init__(self, cfg):
        self.cfg = cfg
        if cfg.sequence_length < 2:
            raise VcodecError("--sequence-length must be at least 2 (an I-frame and a P-frame)")

    def build_model(self, init: str | None):
        from vcodec.models.pframe import from_image_model

        if init:
            name, _, _ = zoo.read_weights(init)
            if name == self.cfg.model:
                return zoo.load(self.cfg.model, weights=init, coding=False)
            # An image model's weights: the P model starts as that model coding residuals.
            return from_image_model(zoo.load(name or zoo.DEFAULT_MODEL, weights=init, coding=False))
        return from_image_model(self._intra())

    def _intra(self):
        """The image model of the I-frames: a registered name, or a weights file."""
        name = self.cfg.intra_model
        if Path(name).is_file():
            return zoo.load(None, weights=name, coding=False)
        return zoo.load(name, coding=False)

    def bind(self, model, device) -> None:
        self.model, self.device = model, device
        self.levels, self.lmbdas = model.levels, tuple(model.cfg.lmbdas)
        self.rate_only = trains_rate_only(model)
        self.intra = self._intra().to(device).eval().requires_grad_(False)
        self.val_levels = list(self.cfg.val_levels) if self.cfg.val_levels is not None else [0, 4, self.levels - 1]

    def _lambda_of(self):
        lmbdas = self.lmbdas

        def motion_lambda(q: int) -> float:
            return motion.search_lambda(lmbdas[q], MOTION_LAMBDA)

        return motion_lambda

    def data(self, rank: int, main: bool):
        cfg = self.cfg
        refuse_test_sets(cfg.data)
        clips = list_clips(cfg.data) if cfg.data else []
        held = [is_held_out_clip(c, cfg.val_fraction) for c in clips]
        train_clips = [c for c, h in zip(clips, held) if not h]
        val_clips = [c for c, h in zip(clips, held) if h]
        photos, val_photos = [], []
        if cfg.photos:
            refuse_test_sets(cfg.photos)
            photos, val_photos = split(list_images(cfg.photos), cfg.val_fraction)
        dataset = VideoSequences(train_clips, photos, cfg.sequence_length, cfg.patch_size, self.levels, cfg.seed,
                                 rank, cfg.synthetic_share, self._lambda_of())
        self.val_set = self._validation_set(val_clips or train_clips[:1], val_photos) if cfg.val_every and main else []
        info = {"folder": str(Path(cfg.data).resolve()) if cfg.data else None, "clips": len(clips),
                "train_clips": len(train_clips), "photos": str(Path(cfg.photos).resolve()) if cfg.photos else None,
                "train_photos": len(photos), "val_images": [str(c[0].parent.name) for c in val_clips]}
        return dataset, info

    def _validation_set(self, clips, photos) -> list[list[np.ndarray]]:
        """Fixed sequences: up to 2 held-out clips and 2 synthetic ones from held-out photos."""
        from vcodec.datasets.folder import load_rgb

        n, p, seqs = self.cfg.sequence_length, self.cfg.patch_size, []
        for frames in clips[:2]:
            rgb = [load_rgb(f) for f in frames[:n]]
            h, w = rgb[0].shape[:2]
            top, left = (h - min(h, p)) // 2, (w - min(w, p)) // 2
            seqs.append([f[top : top + p, left : left + p] for f in rgb])
        g = torch.Generator().manual_seed(self.cfg.seed)
        for photo in photos[:2]:
            seqs.append(synthetic_clip(load_rgb(photo), n, p, g))
        return [[np.ascontiguousarray(f[: f.shape[0] // 64 * 64, : f.shape[1] // 64 * 64]) for f in s] for s in seqs]

    @staticmethod
    def batch_to(batch, device, memory_format):
        frames, q, vectors = batch
        return frames.to(device), q.to(device).float(), vectors

    def _compensate(self, reference: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        ref = (reference * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        pred = np.stack([motion.compensate(r, v.numpy()) for r, v in zip(ref, vectors)])
        return torch.from_numpy(pred).to(reference.device).permute(0, 3, 1, 2).float() / 255

    def loss(self, net, model, batch) -> dict:
        frames, q, vectors = batch
        lmbda = model.lmbda(q)
        weight = level_weights(lmbda, self.lmbdas, self.cfg.level_weight)
        with torch.no_grad():
            reference = _round8(self.intra(frames[:, 0], q)["x_hat"].float())
        total, bpp, mse, last = 0.0, [], [], frames.shape[1] - 1
        for t in range(1, frames.shape[1]):
            x = frames[:, t]
            context = self._compensate(reference, vectors[:, t - 1])
            if self.rate_only:
                # Only the entropy model trains: only a frame that is the next one's reference runs the
                # synthesis.
                out = net(x, q, context, rate_only=t == last)
                res = rate_loss(out, x, weight)
            else:
                out = net(x, q, context)
                res = rd_loss(out, x, lmbda, weight)
            total = total + res["loss"]
            bpp.append(res["bpp"].detach())
            mse.append(res["mse"].detach())
            if t < last:
                reference = _round8(out["x_hat"].detach().float())
        steps = frames.shape[1] - 1
        return {"loss": total / steps, "bpp": torch.stack(bpp).mean(0), "mse": torch.stack(mse).mean(0)}

    @staticmethod
    def metrics(result: dict) -> dict:
        mse = result["mse"].tolist()
        return {"loss": result["loss"].item(), "bpp": result["bpp"].mean().item(), "mse": sum(mse) / len(mse),
                "psnr": sum(psnr(m) for m in mse) / len(mse)}

    @torch.no_grad()
    def validate(self, model, device) -> dict:
        """Per level: mean P-frame bpp (latents under the model, plus the real motion bits) and PSNR over
        the validation sequences, coded as the encoder codes them (motion searched on decoded frames)."""
        from vcodec.video import mvcoding

        was = model.training
        model.eval()
        rows = []
        for level in self.val_levels:
            q = torch.tensor([float(level)], device=device)
            lam = self._lambda_of()(level)
            rates, scores = [], []
            for seq in self.val_set:
                x0 = torch.from_numpy(seq[0]).permute(2, 0, 1)[None].float().to(device) / 255
                reference = _round8(self.intra(x0, q)["x_hat"].float())
                for frame in seq[1:]:
                    ref8 = (reference[0] * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
                    vectors = motion.search(frame, ref8, lam)
                    context = torch.from_numpy(motion.compensate(ref8, vectors)).permute(2, 0, 1)[None].float() / 255
                    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float().to(device) / 255
                    out = model(x, q, context.to(device))
                    pixels = x.shape[-2] * x.shape[-1]
                    rates.append(float(bits_per_pixel(out["likelihoods"], pixels)) + 8 * len(mvcoding.encode(vectors)) / pixels)
                    reference = _round8(out["x_hat"].float())
                    scores.append(psnr(float((reference - x).pow(2).mean())))
            rows.append({"q": level, "lmbda": float(model.lmbda(q)), "bpp": sum(rates) / len(rates),
                         "psnr": sum(scores) / len(scores)})
        model.train(was)
        return {"levels": rows, "images": len(self.val_set)}
