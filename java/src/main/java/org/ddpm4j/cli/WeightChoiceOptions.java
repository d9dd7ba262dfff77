package org.ddpm4j.cli;

import org.ddpm4j.checkpoint.Weights;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/** Which parameters of a model with an EMA a command takes (sample, export, finetune). */
public final class WeightChoiceOptions {
    @Option(names = "--weights", paramLabel = "ema|raw", converter = WeightsConverter.class,
            description = "The EMA of the weights or the raw trained ones (default: ema when the checkpoint keeps one, else raw).")
    Weights weights;

    /** picocli converter for --weights. */
    public static final class WeightsConverter implements ITypeConverter<Weights> {
        @Override
        public Weights convert(String value) {
            try {
                return Weights.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }
}
