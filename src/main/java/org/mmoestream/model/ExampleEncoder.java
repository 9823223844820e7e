package org.mmoestream.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.mmoestream.feature.ElapsedBy;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.feature.FeatureEncoder;
import org.mmoestream.feature.FeatureSpec;
import org.mmoestream.feature.SparseFeature;

/**
 * Turns a joined example (features as JSON, click and conversion labels) or a score request into
 * the model's input. Tasks take their label from {@code click} or {@code conversion} (the task's
 * {@code event} names which). Pure: no Flink.
 */
public final class ExampleEncoder {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final ModelSpec spec;
    private final FeatureEncoder encoder;
    /** Per task, whether its label is the click (else the conversion); null when a task has no event. */
    private final boolean[] isClick;
    /** Per task, whether its loss counts clicked impressions only (CVR masked by CTR, without ESMM). */
    private final boolean[] overClicks;
    /** Per task, whether it is a regression (its label the conversion's value). */
    private final boolean[] value;
    /** Per task, what it predicts of its event: the event, or an ES-DFM delay head's label. */
    private final TaskSpec.DelayRole[] role;
    /** Whether a sparse feature takes the hours from its impression to its emission (features.sparse[].elapsed). */
    private final boolean hasElapsedFeature;
    /** Per sparse feature, the column of the feature its hours are crossed with (elapsed_by), or null. */
    private final String[] crossColumn;

    /**
     * An encoder of {@code spec}'s features. Labels ({@link #encode}) need every task to name its
     * streaming event (click or conversion); {@link #requireEvents} checks that at a job's start.
     */
    public ExampleEncoder(ModelSpec spec) {
        this.spec = spec;
        this.encoder = new FeatureEncoder(spec.features());
        this.hasElapsedFeature = spec.features().sparse().stream().anyMatch(SparseFeature::elapsed);
        this.crossColumn = spec.features().sparse().stream()
                .map(sf -> sf.elapsedBy() == null
                        ? null
                        : spec.features().column(sf.elapsedBy().feature()))
                .toArray(String[]::new);
        boolean[] click = new boolean[spec.tasks().size()];
        for (int t = 0; t < click.length; t++) {
            TaskSpec task = spec.tasks().get(t);
            if (task.event() == null) {
                click = null;
                break;
            }
            click[t] = task.baseEvent().equals(TaskSpec.CLICK);
        }
        this.isClick = click;
        this.role = spec.tasks().stream().map(TaskSpec::delayRole).toArray(TaskSpec.DelayRole[]::new);
        this.overClicks = new boolean[spec.tasks().size()];
        this.value = new boolean[spec.tasks().size()];
        for (int t = 0; t < value.length; t++) {
            value[t] = spec.tasks().get(t).regression();
        }
        int[] maskOf = spec.maskOf();
        for (int t = 0; t < overClicks.length; t++) {
            boolean esmmCvr = t == spec.esmmConversionTask();
            overClicks[t] = click != null && maskOf[t] >= 0 && click[maskOf[t]] && !esmmCvr;
        }
    }

    /** Throws IllegalArgumentException naming the first task that takes no streaming label. */
    public static void requireEvents(ModelSpec spec) {
        for (TaskSpec task : spec.tasks()) {
            if (task.event() == null) {
                throw new IllegalArgumentException("task " + task.name() + " has label '" + task.label()
                        + "' and no event; a streaming model's tasks take the label click or conversion "
                        + "(tasks[].event)");
            }
        }
    }

    /** Encodes features and labels; throws IllegalArgumentException naming the bad feature. */
    public EncodedExample encode(String featuresJson, int click, int conversion) {
        return encodeFeatures(featuresJson, labels(click, conversion));
    }

    /** Encodes features only (labels null), for scoring. */
    public EncodedExample encodeFeatures(String featuresJson, float[] labels) {
        return encodeFeatures(parse(featuresJson), labels);
    }

    private static JsonNode parse(String featuresJson) {
        try {
            return JSON.readTree(featuresJson);
        } catch (IOException e) {
            throw new IllegalArgumentException("features are not JSON");
        }
    }

    /**
     * Encodes the features of an example the join sent {@code elapsedMillis} after its impression,
     * for training: as {@link #encodeFeatures(String, float[])}, with each elapsed feature ({@code
     * features.sparse[].elapsed}) set to the whole hours elapsed, whatever the features carry, or
     * with {@code elapsed_by} to {@code <hours>x<class>} (see {@link ElapsedBy}).
     */
    public EncodedExample encodeFeatures(String featuresJson, float[] labels, long elapsedMillis) {
        if (!hasElapsedFeature) {
            return encodeFeatures(featuresJson, labels);
        }
        JsonNode f = parse(featuresJson);
        if (f instanceof ObjectNode o) {
            long hours = Math.max(0, elapsedMillis) / 3_600_000L;
            List<SparseFeature> sparse = spec.features().sparse();
            for (int i = 0; i < sparse.size(); i++) {
                SparseFeature sf = sparse.get(i);
                if (sf.elapsed() && crossColumn[i] != null) {
                    o.put(sf.column(), hours + crossSuffix(o, i));
                } else if (sf.elapsed()) {
                    o.put(sf.column(), hours);
                }
            }
        }
        return encodeFeatures(f, labels);
    }

    /**
     * Labels of an emission of the join that brings news of the click ({@code clickNews}), of the
     * conversion, or of both (a final or observed example), one per task; a task it brings no news
     * for gets NaN (the row does not train it). A click is news for the click's tasks and for a task
     * trained over clicked impressions only (CVR masked by CTR, without ESMM), which sees the
     * impression for the first time; a conversion for the conversion's tasks. A later click or
     * conversion is only emitted after a click, so a NaN label of a click task means clicked.
     */
    public float[] labels(int click, int conversion, boolean clickNews, boolean conversionNews) {
        return labels(click, conversion, Double.NaN, clickNews, conversionNews);
    }

    /**
     * As {@link #labels(int, int, boolean, boolean)}, with the conversion's {@code value} (NaN when
     * it has none) as the label of regression tasks.
     */
    public float[] labels(int click, int conversion, double value, boolean clickNews, boolean conversionNews) {
        return labels(click, conversion, value, clickNews, conversionNews, null);
    }

    /**
     * As {@link #labels(int, int, double, boolean, boolean)}, with the labels of ES-DFM's delay
     * heads: {@code delay} = {click delayed, click real negative, conversion delayed, conversion real
     * negative} (NaN: no news; null: none), as {@code LabeledExample#delayLabels} gives them.
     */
    public float[] labels(
            int click, int conversion, double value, boolean clickNews, boolean conversionNews, float[] delay) {
        float[] labels = labels(click, conversion, value);
        for (int t = 0; t < labels.length; t++) {
            if (role[t] != TaskSpec.DelayRole.LABEL) {
                int i = (isClick[t] ? 0 : 2) + (role[t] == TaskSpec.DelayRole.DELAYED ? 0 : 1);
                labels[t] = delay == null ? Float.NaN : delay[i];
                continue;
            }
            boolean news = isClick[t] ? clickNews : conversionNews || (clickNews && overClicks[t]);
            if (!news) {
                labels[t] = Float.NaN;
            }
        }
        return labels;
    }

    /**
     * The labels of an early emission of the join ({@code join.feedback} other than wait) as far as
     * they are final, one per task, NaN where not: what the progressive metrics measure, so that a
     * fake negative, which a later click or conversion may turn positive, is never scored as a
     * negative. Before the windows close only a positive is final (the click's tasks when {@code
     * click} is 1, the conversion's when {@code conversion} is); when they have closed ({@code
     * closing}: defer's real negative, es-dfm's closing emission) every label of the impression not
     * sent as a positive before is final, a negative. A delay head's label is exact when sent.
     */
    public float[] finalLabels(
            int click,
            int conversion,
            double value,
            boolean clickNews,
            boolean conversionNews,
            float[] delay,
            boolean closing) {
        if (closing) {
            return labels(click, 0, Double.NaN, click == 0, true, delay);
        }
        float[] labels = labels(click, conversion, value, clickNews, conversionNews, delay);
        for (int t = 0; t < labels.length; t++) {
            if (role[t] == TaskSpec.DelayRole.LABEL && (isClick[t] ? click : conversion) != 1) {
                labels[t] = Float.NaN;
            }
        }
        return labels;
    }

    /** The labels of a (click, conversion) pair, one per task (a regression task's: NaN when converted). */
    public float[] labels(int click, int conversion) {
        return labels(click, conversion, Double.NaN);
    }

    /**
     * The labels of a (click, conversion) pair, one per task; a regression task's is the conversion's
     * {@code value} (NaN, leaving the row out of the task, when a conversion has none) and 0 without
     * a conversion.
     */
    public float[] labels(int click, int conversion, double conversionValue) {
        if (isClick == null) {
            requireEvents(spec);
        }
        float[] labels = new float[isClick.length];
        for (int t = 0; t < labels.length; t++) {
            if (role[t] != TaskSpec.DelayRole.LABEL) {
                // A delay head learns from the early emissions of es-dfm only.
                labels[t] = Float.NaN;
            } else if (value[t]) {
                labels[t] = conversion == 1 ? (float) conversionValue : 0f;
            } else {
                labels[t] = isClick[t] ? click : conversion;
            }
        }
        return labels;
    }

    /** Encodes parsed features (a JSON object); labels may be null. */
    public EncodedExample encodeFeatures(JsonNode f, float[] labels) {
        if (f == null || !f.isObject()) {
            throw new IllegalArgumentException("features are not a JSON object");
        }
        FeatureSpec fs = spec.features();
        int[][] ids = new int[fs.sparse().size()][];
        for (int i = 0; i < ids.length; i++) {
            String col = fs.sparse().get(i).column();
            // A bias feature is unknown at serving (labels null): its serving value, if any, stands in.
            boolean served = labels == null && fs.sparse().get(i).bias();
            String serving = served ? servingValue(fs.sparse().get(i).name()) : null;
            if (serving != null && crossColumn[i] != null) {
                serving += crossSuffix(f, i);
            }
            try {
                ids[i] = served ? encoder.sparse(i, serving) : encoder.sparse(i, value(f.get(col)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("feature " + col + " " + e.getMessage());
            }
        }
        double[] dense = new double[fs.dense().size()];
        for (int i = 0; i < dense.length; i++) {
            String col = fs.dense().get(i).column();
            try {
                dense[i] = encoder.dense(i, value(f.get(col)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("feature " + col + " " + e.getMessage());
            }
        }
        return new EncodedExample(ids, dense, labels);
    }

    /**
     * {@code x<class>}: the class of the value that features {@code f} give the feature that sparse
     * feature {@code i}'s hours are crossed with ({@code none} when missing).
     */
    private String crossSuffix(JsonNode f, int i) {
        JsonNode v = f.get(crossColumn[i]);
        if (v != null && v.isArray() && v.size() == 1) {
            v = v.get(0); // a single-valued feature's one-element list, as FeatureEncoder reads it
        }
        if (v == null || v.isNull() || (v.isTextual() && v.asText().isBlank())) {
            return "xnone";
        }
        double x;
        try {
            x = FeatureEncoder.number(value(v));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("feature " + crossColumn[i] + " must be a number to class the hours of "
                    + spec.features().sparse().get(i).name() + " (elapsed_by), got " + v);
        }
        return "x" + spec.features().sparse().get(i).elapsedBy().classOf(x);
    }

    /** The serving value of bias feature {@code name} (model.bias_serving), or null (missing). */
    private String servingValue(String name) {
        BiasTower tower = spec.architecture().biasTower();
        return tower == null ? null : tower.serving().get(name);
    }

    private static Object value(JsonNode v) {
        if (v == null || v.isNull()) {
            return null;
        }
        if (v.isNumber()) {
            return v.doubleValue();
        }
        if (v.isArray()) {
            List<String> out = new ArrayList<>();
            v.forEach(x -> out.add(x.asText()));
            return out;
        }
        return v.asText();
    }
}
