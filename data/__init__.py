"The offline default that ships inside the wheel as `ftkit.assets`: see `nbs/92_synth.ipynb`, which writes it."
