package org.ddpm4j.cli;

import org.ddpm4j.checkpoint.Weights;
import picocli.CommandLine.Option;

/** Which parameters of a model with an EMA a command takes (sample, export, finetune). */
public final class WeightChoiceOptions {
    @Option(names = "--weights", paramLabel = "ema|raw", converter = Converters.WeightsConverter.class,
            description = "The EMA of the weights or the raw trained ones (default: ema when the checkpoint keeps one, else raw).")
    Weights weights;
}
