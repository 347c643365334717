#!/usr/bin/env python3
"""Draws the app icon as PNG (www/icon-192.png, www/icon-512.png) for the web app manifest: the
same picture as www/icon.svg, rasterised with numpy. Usage: python3 scripts/make_icons.py"""
import struct
import zlib

import numpy as np


def icon(n):
    y, x = (np.mgrid[0:n, 0:n] + 0.5) / n * 64
    img = np.zeros((n, n, 4), np.uint8)
    r = 12
    cx, cy = np.clip(x, r, 64 - r), np.clip(y, r, 64 - r)
    inside = (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    img[inside] = [0x1B, 0x20, 0x27, 255]
    img[((x - 32) / 20) ** 2 + ((y - 33) / 23) ** 2 <= 1] = [0x9A, 0xA4, 0xB1, 255]
    img[((x - 32) / 14) ** 2 + ((y - 33) / 17) ** 2 <= 1] = [0xE6, 0xE9, 0xEE, 255]
    img[(np.abs(x - 32) < 1) & (y > 16) & (y < 50)] = [0x1B, 0x20, 0x27, 255]
    img[inside & ((np.abs(y - 33) < 0.75) | (np.abs(x - 32) < 0.75)) & ~((np.abs(x - 32) < 1) & (y > 16) & (y < 50))] = [0x4F, 0xB3, 0xFF, 255]
    return img


def png(img):
    h, w, _ = img.shape
    raw = b"".join(b"\0" + img[row].tobytes() for row in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


for size in (192, 512):
    with open(f"www/icon-{size}.png", "wb") as f:
        f.write(png(icon(size)))
