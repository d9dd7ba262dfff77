package org.ddpm4j.cli;

import java.util.ArrayList;
import java.util.List;
import org.ddpm4j.model.UNetConfig;
import picocli.CommandLine.Option;

/** What a safetensors file's weights do not say: the image size and the beta schedule. */
public final class WeightsOptions {
    @Option(names = "--image-size", paramLabel = "PX", description = "Image size of a safetensors model without ddpm4j metadata (default 32).")
    Integer imageSize;

    @Option(names = "--beta-start", paramLabel = "B", description = "First beta for a safetensors model without ddpm4j metadata (default 1e-4).")
    Float betaStart;

    @Option(names = "--beta-end", paramLabel = "B", description = "Last beta for a safetensors model without ddpm4j metadata (default 0.02).")
    Float betaEnd;

    UNetConfig fallback() {
        UNetConfig s = UNetConfig.seed();
        int px = imageSize != null ? imageSize : s.height();
        if (px < 2) throw new IllegalArgumentException("--image-size must be >= 2, got " + px);
        float b0 = betaStart != null ? betaStart : s.betaStart();
        float b1 = betaEnd != null ? betaEnd : s.betaEnd();
        if (!(b0 > 0 && b0 <= b1 && b1 < 1)) {
            throw new IllegalArgumentException("--beta-start and --beta-end must satisfy 0 < start <= end < 1");
        }
        return new UNetConfig(s.inChannels(), px, px, s.baseWidth(), s.depth(), s.timeDim(), s.timesteps(), b0, b1);
    }

    /** The given flags whose values differ from a recorded model's. */
    List<String> changedFrom(UNetConfig c) {
        List<String> out = new ArrayList<>();
        if (imageSize != null && (imageSize != c.height() || imageSize != c.width())) {
            out.add(Changes.of("--image-size", imageSize, c.height()));
        }
        Changes.add(out, "--beta-start", betaStart, c.betaStart());
        Changes.add(out, "--beta-end", betaEnd, c.betaEnd());
        return out;
    }

    List<String> given() {
        List<String> g = new ArrayList<>();
        if (imageSize != null) g.add("--image-size");
        if (betaStart != null) g.add("--beta-start");
        if (betaEnd != null) g.add("--beta-end");
        return g;
    }
}
