package org.ddpm4j.checkpoint;

import com.google.gson.JsonObject;
import org.ddpm4j.diffusion.NoiseSchedule;
import org.ddpm4j.diffusion.Prediction;
import org.ddpm4j.model.UNetConfig;

/** UNetConfig to and from JSON, and a short description. */
public final class Configs {
    /** Model fields written since the cosine schedule and class conditioning; older files lack them. */
    public static final java.util.Set<String> ADDED_FIELDS = java.util.Set.of("schedule", "num_classes");

    private Configs() {}

    public static String describe(UNetConfig c) {
        String schedule = c.schedule() == NoiseSchedule.COSINE ? "cosine schedule"
                : "betas " + plain(c.betaStart()) + ".." + plain(c.betaEnd());
        return String.format(java.util.Locale.ROOT, "%dx%dx%d images, base width %d, depth %d, time_dim %d, T=%d, %s%s%s",
                c.inChannels(), c.height(), c.width(), c.baseWidth(), c.depth(), c.timeDim(), c.timesteps(), schedule,
                c.conditional() ? ", conditional on " + c.numClasses() + " classes" : "",
                c.prediction() == Prediction.V ? ", v-prediction" : "");
    }

    /** A float as its shortest decimal without exponent, e.g. 0.0001. */
    public static String plain(float f) {
        return new java.math.BigDecimal(Float.toString(f)).stripTrailingZeros().toPlainString();
    }

    public static JsonObject toJson(UNetConfig c) {
        JsonObject o = new JsonObject();
        o.addProperty("in_channels", c.inChannels());
        o.addProperty("height", c.height());
        o.addProperty("width", c.width());
        o.addProperty("base_width", c.baseWidth());
        o.addProperty("depth", c.depth());
        o.addProperty("time_dim", c.timeDim());
        o.addProperty("timesteps", c.timesteps());
        o.addProperty("beta_start", c.betaStart());
        o.addProperty("beta_end", c.betaEnd());
        o.addProperty("bn_momentum", UNetConfig.BN_MOMENTUM);
        o.addProperty("bn_eps", UNetConfig.BN_EPS);
        o.addProperty("schedule", c.schedule().label());
        o.addProperty("num_classes", c.numClasses());
        o.addProperty("prediction", c.prediction().label());
        return o;
    }

    /** Files written before the cosine schedule and class conditioning have neither field: linear, unconditional. */
    public static UNetConfig fromJson(JsonObject o) {
        NoiseSchedule schedule = o.has("schedule") ? NoiseSchedule.parse(o.get("schedule").getAsString()) : NoiseSchedule.LINEAR;
        int classes = o.has("num_classes") ? o.get("num_classes").getAsInt() : 0;
        // files written before v prediction: the noise
        Prediction prediction = o.has("prediction") ? Prediction.parse(o.get("prediction").getAsString()) : Prediction.EPSILON;
        return new UNetConfig(o.get("in_channels").getAsInt(), o.get("height").getAsInt(), o.get("width").getAsInt(),
                o.get("base_width").getAsInt(), o.get("depth").getAsInt(), o.get("time_dim").getAsInt(),
                o.get("timesteps").getAsInt(), o.get("beta_start").getAsFloat(), o.get("beta_end").getAsFloat(),
                schedule, classes, prediction);
    }
}
