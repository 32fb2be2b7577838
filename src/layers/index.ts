/** The mixer layers, registered by type (one file per mixer; see types.ts for the interface). */
import { registerLayer, type LayerDefinition } from "./registry.js";
import { lstmLayer } from "./lstm.js";
import { gruLayer } from "./gru.js";
import { attentionLayer } from "./attention.js";
import { aarenLayer } from "./aaren.js";
import { deltaNetLayer } from "./delta_net.js";
import { gatedDeltaNetLayer } from "./gated_deltanet.js";
import { linearAttnLayer } from "./linear_attn.js";
import { basedLayer } from "./based.js";
import { retnetLayer } from "./retnet.js";
import { glaLayer } from "./gla.js";
import { mambaLayer } from "./mamba.js";
import { mamba2Layer } from "./mamba2.js";
import { titansLmmLayer } from "./titans_lmm.js";
import { titansMacLayer } from "./titans_mac.js";
import { titansMagLayer } from "./titans_mag.js";
import { titansMalLayer } from "./titans_mal.js";
import { memoraLayer, monetaLayer, yaadLayer } from "./miras.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const definitions: LayerDefinition<any>[] = [
  // each mixer layer adds its definition here
  lstmLayer,
  gruLayer,
  attentionLayer,
  aarenLayer,
  deltaNetLayer,
  gatedDeltaNetLayer,
  linearAttnLayer,
  basedLayer,
  retnetLayer,
  glaLayer,
  mambaLayer,
  mamba2Layer,
  titansLmmLayer,
  titansMacLayer,
  titansMagLayer,
  titansMalLayer,
  monetaLayer,
  yaadLayer,
  memoraLayer,
];
definitions.forEach(registerLayer);

export { MixerLayer, type LayerState, type LayerContext, type LayerForwardOptions } from "./types.js";
export { registerLayer, getLayer, listLayers, createLayer, type LayerDefinition } from "./registry.js";
