package org.ddpm4j.job;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.ddpm4j.model.TensorInfo;
import org.ddpm4j.model.UNetConfig;

/**
 * The UNet's tensor tables (names under the seed notebook's state_dict, shapes, offsets into
 * the flat buffers) as a pure function of the configuration, in the order the native
 * {@code ddpm::UNet} constructor lays them out (native/core/unet.cpp). Reading or writing a
 * safetensors file needs only these, not a native model with its gradient, Adam and
 * activation memory; {@code TensorTableTest} holds this table to the native one.
 */
public final class TensorTable {
    private final List<TensorInfo> params = new ArrayList<>();
    private final List<TensorInfo> buffers = new ArrayList<>();
    private long numParams;
    private long numBuffers;

    private TensorTable(UNetConfig cfg) {
        int depth = cfg.depth();
        int c0 = cfg.baseWidth();
        doubleConv("conv1.conv", cfg.inChannels(), c0);
        for (int i = 1; i <= depth; i++) doubleConv("down" + i + ".conv.conv", c0 << (i - 1), c0 << i);
        for (int j = 1; j <= depth; j++) {
            int level = depth - j;  // the output level of up_j
            int cin = c0 << (level + 1), cout = c0 << level;
            param("up" + j + ".up.up_scale.weight", cin, cout, 2, 2);
            param("up" + j + ".up.up_scale.bias", cout);
            doubleConv("up" + j + ".conv.conv", cin, cout);
        }
        param("last_conv.weight", cfg.inChannels(), c0, 1, 1);
        param("last_conv.bias", cfg.inChannels());
        timeMlp("te1", cfg.inChannels(), cfg.timeDim());
        for (int i = 1; i <= depth; i++) timeMlp("te" + (i + 1), c0 << (i - 1), cfg.timeDim());
        for (int j = 1; j <= depth; j++) timeMlp("te" + j + "_up", c0 << (depth - j + 1), cfg.timeDim());
        if (cfg.numClasses() > 0) param("class_embed.weight", cfg.numClasses() + 1, cfg.timeDim());
    }

    /** The tables of a model with this configuration (a resolved one: numClasses is not CLASSES_FROM_DATA). */
    public static TensorTable of(UNetConfig cfg) {
        if (cfg.numClasses() < 0) throw new IllegalArgumentException("TensorTable: the number of classes is not resolved yet");
        return new TensorTable(cfg);
    }

    /** Trainable tensors, in the order of the flat parameter buffer. */
    public List<TensorInfo> params() {
        return Collections.unmodifiableList(params);
    }

    /** BatchNorm running statistics, in the order of the flat buffer. */
    public List<TensorInfo> buffers() {
        return Collections.unmodifiableList(buffers);
    }

    public long numParams() {
        return numParams;
    }

    public long numBuffers() {
        return numBuffers;
    }

    /** conv3x3, BatchNorm, ReLU, conv3x3, BatchNorm, ReLU: the notebook's nn.Sequential indices 0, 1 (2) and 3, 4 (5). */
    private void doubleConv(String prefix, int cin, int cout) {
        for (int k = 0; k < 2; k++) {
            String conv = prefix + "." + 3 * k, bn = prefix + "." + (3 * k + 1);
            param(conv + ".weight", cout, k == 0 ? cin : cout, 3, 3);
            param(conv + ".bias", cout);
            param(bn + ".weight", cout);
            param(bn + ".bias", cout);
            buffer(bn + ".running_mean", cout);
            buffer(bn + ".running_var", cout);
        }
    }

    /** Linear(time_dim, c), SiLU, Linear(c, c). */
    private void timeMlp(String name, int c, int timeDim) {
        param(name + ".0.weight", c, timeDim);
        param(name + ".0.bias", c);
        param(name + ".2.weight", c, c);
        param(name + ".2.bias", c);
    }

    private void param(String name, long... shape) {
        TensorInfo t = new TensorInfo(name, numParams, shape);
        params.add(t);
        numParams += t.size();
    }

    private void buffer(String name, long channels) {
        TensorInfo t = new TensorInfo(name, numBuffers, new long[] {channels});
        buffers.add(t);
        numBuffers += t.size();
    }
}
