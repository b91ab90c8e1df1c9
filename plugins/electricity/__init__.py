"""The built-in ``electricity`` dataset plugin: forecasting a household's electric load from sliding windows.

Registering imports no pandas or matplotlib and reads no data: the factory imports
:mod:`seqkit.plugins.electricity.dataset` when a dataset is built. The package's modules:

- :mod:`~seqkit.plugins.electricity.config`: the dataset's options (``ElectricityConfig``);
- :mod:`~seqkit.plugins.electricity.dataset`: the dataset (``ElectricityDataset``) and its test report;
- :mod:`~seqkit.plugins.electricity.series`: reading a load series from a text file;
- :mod:`~seqkit.plugins.electricity.csv_cells`: a load file's header and cells, and its values as numbers;
- :mod:`~seqkit.plugins.electricity.time_axis`: a load file's time column and step;
- :mod:`~seqkit.plugins.electricity.windows`: chronological splits, scaling and calendar features;
- :mod:`~seqkit.plugins.electricity.baselines`: reference forecasts and error figures;
- :mod:`~seqkit.plugins.electricity.report`: the forecast table and plot;
- :mod:`~seqkit.plugins.electricity.linear_skip`: the linear forecast the model adds to its own;
- :mod:`~seqkit.plugins.electricity.least_squares`: ridge least squares in chunks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqkit import hookimpl
from seqkit.hookspecs import RegisterComponent
from seqkit.plugins.electricity.config import ElectricityConfig

if TYPE_CHECKING:
    from seqkit.components import DataSpec
    from seqkit.plugins.electricity.dataset import ElectricityDataset
    from seqkit.plugins.electricity.linear_skip import LinearSkip


def build_linear_skip(config: ElectricityConfig, spec: DataSpec) -> LinearSkip | None:
    """The model extension: a linear skip from the last ``dataset.linear_skip`` steps (none when 0)."""
    from seqkit.plugins.electricity.linear_skip import build_linear_skip as build

    return build(config, spec)


def build_electricity_dataset(config: ElectricityConfig) -> ElectricityDataset:
    """Sliding windows over one load series, as batches of ``(batch, window, features)`` -> ``(batch, 1)``."""
    from seqkit.plugins.electricity.dataset import ElectricityDataset

    return ElectricityDataset(config)


@hookimpl
def register_datasets(register: RegisterComponent) -> None:
    register("electricity", build_electricity_dataset, ElectricityConfig, model_extension=build_linear_skip)
