package org.mmoestream.train;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.mmoestream.event.DeadLetter;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.event.serde.JsonRecords;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.codec.SpecJson;

/**
 * Encodes labeled examples for the trainer (features parsed and hashed, labels per task) where
 * they are made, in the join's tasks, so that the trainer's thread does not parse JSON and the
 * examples cross the network as a few hundred bytes of arrays. An example whose features cannot be
 * encoded goes to the dead-letter output with the reason (naming the feature) and is counted in
 * {@code examples_rejected}.
 */
public final class EncodeExamples extends ProcessFunction<LabeledExample, TrainExample> {
    private static final long serialVersionUID = 1L;

    /** Examples that could not be encoded. */
    public static final OutputTag<DeadLetter> REJECTED =
            new OutputTag<>("rejected-examples", TypeInformation.of(DeadLetter.class));

    private final String specJson;
    private transient ExampleEncoder encoder;
    private transient Counter rejected;

    public EncodeExamples(String specJson) {
        this.specJson = specJson;
    }

    @Override
    public void open(OpenContext ctx) {
        encoder = new ExampleEncoder(SpecJson.read(specJson));
        rejected = getRuntimeContext().getMetricGroup().counter("examples_rejected");
    }

    @Override
    public void processElement(LabeledExample e, Context ctx, Collector<TrainExample> out) {
        try {
            out.collect(encode(encoder, e));
        } catch (IllegalArgumentException ex) {
            rejected.inc();
            ctx.output(
                    REJECTED,
                    new DeadLetter(
                            "examples",
                            -1,
                            -1,
                            DeadLetter.UNENCODABLE_EXAMPLE,
                            "example of model '" + e.model + "' cannot be encoded and is not trained on: "
                                    + ex.getMessage(),
                            JsonRecords.example(e)));
        }
    }

    /**
     * {@code e} encoded for the trainer: its features, the labels each task trains on (NaN where
     * the emission brings no news of the task) and, for an early feedback mode's emission, the
     * labels as far as they are final, which the progressive metrics measure; IllegalArgumentException
     * when its features cannot be encoded.
     */
    static TrainExample encode(ExampleEncoder encoder, LabeledExample e) {
        boolean clickNews = e.clickNews();
        boolean conversionNews = e.conversionNews();
        TrainExample t = TrainExample.of(
                e.requestId,
                e.model,
                e.impressionTs,
                e.labeledAt,
                encoder.encodeFeatures(
                        e.features,
                        encoder.labels(
                                e.click, e.conversion, e.conversionValue, clickNews, conversionNews, e.delayLabels()),
                        e.sentAt > 0 ? e.sentAt - e.impressionTs : 0));
        t.finalAt = e.finalAt;
        t.kind = (byte) e.kind.ordinal();
        if (e.kind != LabeledExample.Kind.FINAL) {
            t.finalLabels = encoder.finalLabels(
                    e.click,
                    e.conversion,
                    e.conversionValue,
                    clickNews,
                    conversionNews,
                    e.delayLabels(),
                    e.kind == LabeledExample.Kind.NEGATIVE || e.kind == LabeledExample.Kind.CLOSED);
        }
        return t;
    }
}
