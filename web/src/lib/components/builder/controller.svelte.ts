// The builder's state for one page: the model, the JSON text, the live validation and the drag in
// progress (mouse or keyboard). The blocks read it from context and send every edit through
// update(), so the JSON view, the errors and the blocks always describe the same document.
import { getContext, setContext, tick } from "svelte";
import { validateStrategy, type ValidationIssue } from "$lib/builder/core";
import {
  accepts,
  applyDrop,
  decodePayload,
  encodePayload,
  MIME,
  moveChoice,
  payloadLabel,
  pickUp,
  place,
  targetKey,
  targetLabel,
  type KeyboardDrag,
  type Payload,
  type Target,
} from "$lib/builder/dnd";
import { issuesOf, placeIssues, type PlacedIssue } from "$lib/builder/errors";
import { fromJson, toJson, type BuilderModel } from "$lib/builder/model";

const KEY = Symbol("builder");

const pretty = (m: BuilderModel) => JSON.stringify(toJson(m), null, 2);

export class BuilderController {
  model = $state.raw<BuilderModel>(null as unknown as BuilderModel);
  text = $state("");
  /** why the JSON text is not shown as blocks (it does not parse, or the blocks cannot say it) */
  jsonProblem = $state<string | null>(null);
  /** the document the text holds when the blocks cannot show it */
  private parsed = $state.raw<unknown>(undefined);
  /** issues the server reported on the last save that the live check does not know */
  serverIssues = $state.raw<ValidationIssue[]>([]);
  dragging = $state.raw<Payload | null>(null);
  held = $state.raw<KeyboardDrag | null>(null);
  announcement = $state("");
  private returnFocus: HTMLElement | null = null;

  readonly doc = $derived.by(() =>
    this.jsonProblem !== null && this.parsed !== undefined ? this.parsed : toJson(this.model),
  );
  readonly validation = $derived(validateStrategy(this.doc));
  readonly issues: PlacedIssue[] = $derived(
    placeIssues(this.model, [...this.validation.errors, ...this.serverIssues]),
  );
  readonly heldTarget = $derived(this.held ? targetKey(this.held.targets[this.held.index]) : null);

  constructor(initial: BuilderModel) {
    this.model = initial;
    this.text = pretty(initial);
  }

  /** An edit from the blocks: the JSON view follows. */
  update(m: BuilderModel): void {
    if (m === this.model) return;
    this.model = m;
    this.text = pretty(m);
    this.jsonProblem = null;
    this.parsed = undefined;
    this.serverIssues = [];
  }

  /** An edit of the JSON text: the blocks follow whenever the text is a document they can show. */
  editJson(text: string): void {
    this.text = text;
    this.serverIssues = [];
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      this.jsonProblem = `Not valid JSON: ${(e as Error).message}`;
      this.parsed = undefined;
      return;
    }
    const r = fromJson(doc);
    if (r.ok) {
      this.model = r.model;
      this.jsonProblem = null;
      this.parsed = undefined;
    } else {
      this.jsonProblem = `The blocks cannot show this document: ${r.reason}`;
      this.parsed = doc;
    }
  }

  issuesOf(block: string, field?: string): PlacedIssue[] {
    return issuesOf(this.issues, block, field);
  }

  // --- mouse drag and drop

  startDrag(e: DragEvent, p: Payload): void {
    this.cancelHold();
    this.dragging = p;
    if (e.dataTransfer) {
      e.dataTransfer.setData(MIME, encodePayload(p));
      // other applications get something readable when a block is dropped on them
      e.dataTransfer.setData(
        "text/plain",
        p.kind === "operand" ? String(p.value) : payloadLabel(this.model, p),
      );
      e.dataTransfer.effectAllowed = p.kind === "move" ? "move" : "copy";
    }
  }

  endDrag(): void {
    this.dragging = null;
  }

  /** Whether the drag in progress may end on this target (a drop zone lights up when it may). */
  canDrop(t: Target): boolean {
    return this.dragging !== null && accepts(this.model, this.dragging, t);
  }

  dragOver(e: DragEvent, t: Target): void {
    if (!this.canDrop(t)) return;
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = this.dragging?.kind === "move" ? "move" : "copy";
  }

  drop(e: DragEvent, t: Target): void {
    const p = decodePayload(e.dataTransfer?.getData(MIME)) ?? this.dragging;
    this.dragging = null;
    if (!p) return;
    e.preventDefault();
    e.stopPropagation();
    const before = this.model;
    this.update(applyDrop(before, p, t));
    if (this.model !== before)
      this.announcement = `Placed ${payloadLabel(before, p)} in ${targetLabel(before, t)}.`;
  }

  // --- the keyboard's equivalent

  /** Enter or Space on a draggable thing: its targets are offered in the "Place in…" list. */
  pickUp(p: Payload, from: HTMLElement | null): void {
    const d = pickUp(this.model, p);
    if (!d) {
      this.announcement = `There is nowhere to place ${payloadLabel(this.model, p)} yet.`;
      return;
    }
    this.returnFocus = from;
    this.held = d;
  }

  heldLabel(): string {
    return this.held ? payloadLabel(this.model, this.held.payload) : "";
  }

  menuKey(e: KeyboardEvent): void {
    if (!this.held) return;
    if (e.key === "Escape") {
      e.preventDefault();
      this.cancelHold();
      this.announcement = "Cancelled.";
      return;
    }
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      this.placeHeld();
      return;
    }
    const next = moveChoice(this.held, e.key);
    if (next.index !== this.held.index) {
      e.preventDefault();
      this.held = next;
    }
  }

  choose(index: number): void {
    if (!this.held) return;
    this.held = { ...this.held, index };
    this.placeHeld();
  }

  placeHeld(): void {
    const d = this.held;
    if (!d) return;
    const before = this.model;
    const where = targetLabel(before, d.targets[d.index]);
    this.update(place(before, d));
    this.announcement = `Placed ${payloadLabel(before, d.payload)} in ${where}.`;
    this.cancelHold();
  }

  cancelHold(): void {
    if (!this.held) return;
    this.held = null;
    const el = this.returnFocus;
    this.returnFocus = null;
    if (el?.isConnected) void tick().then(() => el.focus());
  }

  targetLabel(t: Target): string {
    return targetLabel(this.model, t);
  }
}

export function provideBuilder(c: BuilderController): void {
  setContext(KEY, c);
}

export function useBuilder(): BuilderController {
  return getContext<BuilderController>(KEY);
}
