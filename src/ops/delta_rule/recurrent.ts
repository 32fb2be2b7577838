/** `delta_rule`, step form (spec/mixers.md §7.2): state [B,H,K,V], O(K·V) per head whatever T. */
import { deltaRecurrent } from "../delta_common/recurrent.js";
import { DELTA } from "../delta_common/shared.js";

export const deltaRuleRecurrent = deltaRecurrent(DELTA);
