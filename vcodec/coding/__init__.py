"""The format-neutral coding core: the latent coder (a codable model's latents to range-coded streams and
back), the container (typed, checksummed units) and the quality scale. The image and video front ends
(``vcodec.image``, ``vcodec.video``) are built on it."""
