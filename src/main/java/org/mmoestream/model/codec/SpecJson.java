package org.mmoestream.model.codec;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.mmoestream.model.ModelSpec;

/** The model spec as JSON, carried in every snapshot so any reader can rebuild the model. */
public final class SpecJson {
    private static final ObjectMapper JSON =
            new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);

    private SpecJson() {}

    public static String write(ModelSpec spec) {
        try {
            return JSON.writeValueAsString(spec);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write the spec as JSON", e);
        }
    }

    public static ModelSpec read(String json) {
        try {
            return JSON.readValue(json, ModelSpec.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(
                    "the snapshot's spec is not a valid model spec: " + e.getOriginalMessage(), e);
        }
    }
}
