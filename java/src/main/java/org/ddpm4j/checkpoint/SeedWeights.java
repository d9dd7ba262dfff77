package org.ddpm4j.checkpoint;

import com.google.gson.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.ddpm4j.checkpoint.SafeTensors.Contents;
import org.ddpm4j.checkpoint.SafeTensors.Tensor;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.model.TensorInfo;
import org.ddpm4j.model.UNetConfig;

/**
 * Weights under the seed notebook's state_dict names, so that its PyTorch UNet
 * loads them with {@code load_state_dict(strict=True)} and its files load here:
 * every parameter (F32), every BatchNorm running_mean/running_var (F32) with its
 * {@code num_batches_tracked} (I64 scalar), and the frozen embedding table as
 * {@code time_embed.weight} (F32, timesteps x time_dim).
 */
public final class SeedWeights {
    public static final String TIME_EMBED = "time_embed.weight";
    public static final String NUM_BATCHES = "num_batches_tracked";
    public static final String META_CONFIG = "ddpm4j_config";
    public static final String META_TABLE = "ddpm4j_time_table";
    /** The class embedding of a class-conditional model (ddpm4j's extension; the notebook's UNet has none). */
    public static final String CLASS_EMBED = "class_embed.weight";

    private SeedWeights() {}

    /** The BatchNorm module prefixes ("conv1.conv.1.", ...) in buffer order. */
    static List<String> bnPrefixes(List<TensorInfo> buffers) {
        Set<String> out = new LinkedHashSet<>();
        for (TensorInfo b : buffers) {
            String n = b.name();
            int dot = n.lastIndexOf('.');
            out.add(n.substring(0, dot + 1));
        }
        return new ArrayList<>(out);
    }

    public static List<Tensor> export(ModelState s, List<TensorInfo> params, List<TensorInfo> buffers) {
        List<Tensor> out = new ArrayList<>();
        for (TensorInfo t : params) out.add(Tensor.f32(t.name(), t.shape(), s.params(), (int) t.offset(), (int) t.size()));
        for (TensorInfo t : buffers) out.add(Tensor.f32(t.name(), t.shape(), s.buffers(), (int) t.offset(), (int) t.size()));
        for (String p : bnPrefixes(buffers)) out.add(Tensor.i64Scalar(p + NUM_BATCHES, s.bnBatches()));
        UNetConfig c = s.config();
        out.add(Tensor.f32(TIME_EMBED, new long[] {c.timesteps(), c.timeDim()}, s.timeTable(), 0, s.timeTable().length));
        return out;
    }

    /** Metadata that lets an import restore what the weights alone do not say (image size, betas). */
    public static Map<String, String> metadata(ModelState s) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("format", "pt");
        m.put(META_CONFIG, Configs.toJson(s.config()).toString());
        m.put(META_TABLE, s.timeTableKind().label());
        return m;
    }

    /**
     * The model configuration a seed state dict implies: channels and base width from
     * conv1, depth from the down blocks, timesteps and time_dim from the table, the number
     * of classes from a class embedding; image size, betas and schedule from ddpm4j
     * metadata when present, else from {@code fallback}.
     */
    public static UNetConfig inferConfig(Contents c, UNetConfig fallback, String file) {
        Map<String, Tensor> t = c.tensors();
        Tensor conv1 = t.get("conv1.conv.0.weight");
        Tensor table = t.get(TIME_EMBED);
        if (conv1 == null || table == null || conv1.shape().length != 4 || table.shape().length != 2) {
            throw new CheckpointException(file + " does not hold the seed UNet's weights (no conv1.conv.0.weight or "
                    + TIME_EMBED + " of the right rank)");
        }
        int depth = 0;
        while (depth < 9 && t.containsKey("down" + (depth + 1) + ".conv.conv.0.weight")) depth++;
        if (depth == 0) throw new CheckpointException(file + " does not hold the seed UNet's weights (no down1 block)");
        UNetConfig base = fallback;
        String meta = c.metadata().get(META_CONFIG);
        if (meta != null) {
            try {
                byte[] json = meta.getBytes(StandardCharsets.UTF_8);
                JsonObject o = StrictJson.parseObject(json, 0, json.length);
                StrictJson.checkTypes(o, Configs.toJson(UNetConfig.seed()), META_CONFIG, Configs.ADDED_FIELDS);
                base = Configs.fromJson(o);
            } catch (StrictJson.Invalid e) {
                throw new CheckpointException(file + ": its " + META_CONFIG + " metadata " + e.getMessage());
            } catch (IllegalArgumentException e) {  // a schedule word or class count the config refuses
                throw new CheckpointException(file + ": its " + META_CONFIG + " metadata is out of range ("
                        + StrictJson.clean(String.valueOf(e.getMessage()), 200) + ")");
            }
        }
        Tensor classes = t.get(CLASS_EMBED);
        if (classes != null && (classes.shape().length != 2 || classes.shape()[0] < 2 || classes.shape()[1] != table.shape()[1])) {
            throw new CheckpointException(file + ": " + CLASS_EMBED + " has shape " + Arrays.toString(classes.shape())
                    + ", expected (classes + 1, " + table.shape()[1] + ")");
        }
        UNetConfig cfg = new UNetConfig(dim(conv1, 1, file), base.height(), base.width(), dim(conv1, 0, file), depth,
                dim(table, 1, file), dim(table, 0, file), base.betaStart(), base.betaEnd(), base.schedule(),
                classes == null ? 0 : dim(classes, 0, file) - 1, base.prediction());
        String problem = CheckpointFile.modelProblem(cfg);
        if (problem != null) throw new CheckpointException(file + ": its weights and metadata describe a model with " + problem);
        return cfg;
    }

    private static int dim(Tensor t, int axis, String file) {
        long d = t.shape()[axis];
        if (d < 1 || d > Integer.MAX_VALUE) {
            throw new CheckpointException(file + ": " + t.name() + " has shape " + Arrays.toString(t.shape())
                    + ", expected positive sizes");
        }
        return (int) d;
    }

    /** The table kind recorded by ddpm4j, else IMPORTED. */
    public static TimeTable tableKind(Contents c) {
        String k = c.metadata().get(META_TABLE);
        if (k == null) return TimeTable.IMPORTED;
        try {
            return TimeTable.valueOf(k.toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            return TimeTable.IMPORTED;
        }
    }

    /** Checks names and shapes strictly (no missing, no unexpected tensors) and gathers the model state. */
    public static ModelState toModelState(Contents c, UNetConfig config, List<TensorInfo> params,
                                          List<TensorInfo> buffers, String file) {
        Map<String, Tensor> t = c.tensors();
        Set<String> expected = new LinkedHashSet<>();
        for (TensorInfo p : params) expected.add(p.name());
        for (TensorInfo b : buffers) expected.add(b.name());
        List<String> prefixes = bnPrefixes(buffers);
        for (String p : prefixes) expected.add(p + NUM_BATCHES);
        expected.add(TIME_EMBED);
        List<String> missing = expected.stream().filter(n -> !t.containsKey(n)).toList();
        List<String> unexpected = t.keySet().stream().filter(n -> !expected.contains(n)).toList();
        if (!missing.isEmpty() || !unexpected.isEmpty()) {
            StringBuilder sb = new StringBuilder(file + " does not match the seed UNet (" + Configs.describe(config) + "):");
            if (!missing.isEmpty()) sb.append(" missing ").append(few(missing));
            if (!unexpected.isEmpty()) sb.append(missing.isEmpty() ? "" : ";").append(" unexpected ").append(few(unexpected));
            throw new CheckpointException(sb.toString());
        }
        long numParams = params.stream().mapToLong(TensorInfo::size).sum();
        long numBuffers = buffers.stream().mapToLong(TensorInfo::size).sum();
        float[] p = new float[(int) numParams];
        float[] b = new float[(int) numBuffers];
        for (TensorInfo info : params) copy(t.get(info.name()), info, p, file);
        for (TensorInfo info : buffers) copy(t.get(info.name()), info, b, file);
        long batches = 0;
        for (String pre : prefixes) {
            long n = t.get(pre + NUM_BATCHES).toLong();
            if (n < 0) throw new CheckpointException(file + ": " + pre + NUM_BATCHES + " is " + n + ", expected a count >= 0");
            batches = Math.max(batches, n);
        }
        Tensor table = t.get(TIME_EMBED);
        long[] want = {config.timesteps(), config.timeDim()};
        if (!Arrays.equals(table.shape(), want)) {
            throw new CheckpointException(file + ": " + TIME_EMBED + " has shape " + Arrays.toString(table.shape())
                    + ", expected " + Arrays.toString(want));
        }
        return new ModelState(config, p, b, batches, table.toFloats(), tableKind(c));
    }

    private static void copy(Tensor src, TensorInfo dst, float[] into, String file) {
        if (!Arrays.equals(src.shape(), dst.shape())) {
            throw new CheckpointException(file + ": " + dst.name() + " has shape " + Arrays.toString(src.shape())
                    + ", the model needs " + Arrays.toString(dst.shape()));
        }
        float[] v = src.toFloats();
        System.arraycopy(v, 0, into, (int) dst.offset(), v.length);
    }

    private static String few(List<String> names) {
        return names.size() <= 4 ? String.join(", ", names)
                : String.join(", ", names.subList(0, 4)) + " and " + (names.size() - 4) + " more";
    }
}
