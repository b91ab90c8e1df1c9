"""The options of the ``electricity`` dataset (``dataset/electricity``): source, windows, split, scaling.

Only a dataclass, so the plugin registers the dataset without importing pandas or reading any data.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ElectricityConfig:
    """Where the load comes from, how it is windowed, split and scaled, and how batches are drawn."""

    #: ``extract`` (the one-column elec_load.csv), ``uci`` (LD2011_2014.txt) or ``csv`` (needs ``path``).
    source: str = "extract"
    #: A local file to read instead of downloading; its layout (UCI or plain CSV) is read from its header.
    path: str | None = None
    #: The value column; default: ``client`` for the UCI file, else the file's only value column.
    column: str | None = None
    client: str = "MT_001"
    #: A plain CSV's time-stamp column (interval ends); ``None``: rows are ``frequency`` apart from ``start``.
    time_column: str | None = None
    start: str = "2011-01-01 00:15:00"
    frequency: str = "15min"
    #: Average onto a coarser step first, e.g. ``"1h"``.
    resample: str | None = None
    window: int = 96
    horizon: int = 1
    #: Time of day (sin/cos) and day of week per step as extra input features.
    calendar: bool = True
    day_of_week: str = "onehot"
    #: Time of day as ``sincos`` (two features) or ``onehot`` (one feature per slot of the day, e.g. 96).
    time_of_day: str = "sincos"
    #: Train/validation/test fractions of the rows, in time order.
    split: list[float] = field(default_factory=lambda: [0.7, 0.1, 0.2])
    #: Explicit ``[start, stop)`` ranges in window indices; give all three to override ``split``.
    train_range: list[int] | None = None
    val_range: list[int] | None = None
    test_range: list[int] | None = None
    scaler: str = "standard"
    #: ``fixed`` scaling: ``(x - offset) / scale`` (the chapter: offset 147, scale 339).
    offset: float = 0.0
    scale: float = 1.0
    #: Rows per season for the seasonal-naive baseline; ``None``: one day.
    season: int | None = None
    batch_size: int = 100
    shuffle: bool = True
    seed: int = 0
    #: Draw this many training windows afresh each epoch (``None``: all of them).
    max_windows_per_epoch: int | None = None
    #: Length of the stretch of the test part drawn in forecast.png.
    plot_days: float = 2.0
    #: Add a linear map of the last N input steps to the model's forecast (0: off); see ``linear_skip.py``.
    linear_skip: int = 0
    #: How the linear skip starts: ``random``, or ``least_squares`` (fitted on the training windows).
    linear_skip_init: str = "random"
