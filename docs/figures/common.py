"""Helpers the figure scripts share (imported as `from common import ...`: each script runs from this
folder's path)."""
import math


def text(x):
    """An HDF5 string (bytes or str) as str."""
    return x.decode() if isinstance(x, bytes) else str(x)


def wilson(k, n, z=1.96):
    """Wilson score 95% interval of the proportion k / n."""
    p = k / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, centre - half), min(1.0, centre + half)
