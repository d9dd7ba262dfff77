package org.ddpm4j.cli;

import java.util.function.Function;
import org.ddpm4j.backend.Device;
import org.ddpm4j.backend.Precision;
import org.ddpm4j.checkpoint.Weights;
import org.ddpm4j.data.Resize;
import org.ddpm4j.data.Split;
import org.ddpm4j.diffusion.NoiseSchedule;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.sample.SamplerKind;
import org.ddpm4j.train.Preset;
import org.ddpm4j.train.Progress;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * picocli converters for the value types that parse themselves (case-insensitively): each type's own
 * one-line message on a bad value ("--device must be auto, cpu or cuda, got 'gpu'"), where picocli's
 * enum conversion would print the constants in upper case.
 */
final class Converters {
    private Converters() {}

    /** Converts with {@code parse}; its IllegalArgumentException becomes picocli's usage error with the same message. */
    abstract static class Parsing<T> implements ITypeConverter<T> {
        private final Function<String, T> parse;

        Parsing(Function<String, T> parse) {
            this.parse = parse;
        }

        @Override
        public T convert(String value) {
            try {
                return parse.apply(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(Main.inFlags(e));
            }
        }
    }

    /** Resize's own parse and message. */
    public static final class ResizeConverter extends Parsing<Resize> {
        public ResizeConverter() {
            super(Resize::parse);
        }
    }

    /** Device's own parse and message. */
    public static final class DeviceConverter extends Parsing<Device> {
        public DeviceConverter() {
            super(Device::parse);
        }
    }

    /** Precision's own parse and message. */
    public static final class PrecisionConverter extends Parsing<Precision> {
        public PrecisionConverter() {
            super(Precision::parse);
        }
    }

    /** Preset's own parse and message. */
    public static final class PresetConverter extends Parsing<Preset> {
        public PresetConverter() {
            super(Preset::parse);
        }
    }

    /** Progress.Mode's own parse and message. */
    public static final class ProgressConverter extends Parsing<Progress.Mode> {
        public ProgressConverter() {
            super(Progress.Mode::parse);
        }
    }

    /** SamplerKind's own parse and message. */
    public static final class SamplerConverter extends Parsing<SamplerKind> {
        public SamplerConverter() {
            super(SamplerKind::parse);
        }
    }

    /** Prediction's own parse and message. */
    public static final class PredictionConverter extends Parsing<org.ddpm4j.diffusion.Prediction> {
        public PredictionConverter() {
            super(org.ddpm4j.diffusion.Prediction::parse);
        }
    }

    /** LrSchedule.Kind's own parse and message. */
    public static final class LrScheduleConverter extends Parsing<org.ddpm4j.optim.LrSchedule.Kind> {
        public LrScheduleConverter() {
            super(org.ddpm4j.optim.LrSchedule.Kind::parse);
        }
    }

    /** TimestepSpacing's own parse and message. */
    public static final class TimestepSpacingConverter extends Parsing<org.ddpm4j.sample.TimestepSpacing> {
        public TimestepSpacingConverter() {
            super(org.ddpm4j.sample.TimestepSpacing::parse);
        }
    }

    /** Optimizer's own parse and message. */
    public static final class OptimizerConverter extends Parsing<org.ddpm4j.optim.Optimizer> {
        public OptimizerConverter() {
            super(org.ddpm4j.optim.Optimizer::parse);
        }
    }

    /** NoiseSchedule's own parse and message. */
    public static final class ScheduleConverter extends Parsing<NoiseSchedule> {
        public ScheduleConverter() {
            super(NoiseSchedule::parse);
        }
    }

    /** Split's own parse and message. */
    public static final class SplitConverter extends Parsing<Split> {
        public SplitConverter() {
            super(Split::parse);
        }
    }

    /** TimeTable's own parse and message. */
    public static final class TimeTableConverter extends Parsing<TimeTable> {
        public TimeTableConverter() {
            super(TimeTable::parse);
        }
    }

    /** Weights's own parse and message. */
    public static final class WeightsConverter extends Parsing<Weights> {
        public WeightsConverter() {
            super(Weights::parse);
        }
    }}
