/**
 * How an encoder's adaptable weights are named in PEFT adapter files (models/peft.ts): the PyTorch module paths
 * of the Hugging Face model (BertEncoder.peftNaming()), or our own weight names for other encoders.
 */
export interface PeftNaming {
  /** Which naming this is, recorded in exported files' metadata. */
  readonly scheme: string;
  /** Module path of weight `name`, as in the base model's state dict (`encoder.layer.0.attention.self.query`). */
  module(name: string): string;
  /** Our weight name for a module path (checkpoint prefixes such as `bert.` accepted); undefined if none. */
  weightOf(module: string): string | undefined;
  /** peft `target_modules` that select exactly the given weights. */
  targetModules(names: readonly string[]): string[];
}
