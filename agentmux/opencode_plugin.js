// agentmux's OpenCode plugin: hands OpenCode's state events to agentmux's hook program.
//
// OpenCode loads every file in <dir>/plugins/ of each config folder, and OPENCODE_CONFIG_DIR
// adds one folder without touching the user's own config (verified with opencode 1.18.33).
// agentmux copies this file to <pane dir>/opencode/plugins/agentmux.js and sets, in the pane:
//   OPENCODE_CONFIG_DIR=<pane dir>/opencode
//   AGENTMUX_PANE_DIR=<pane dir>
//   AGENTMUX_HOOK_ARGV=["/usr/bin/python3", "-S", "/path/to/agentmux/hook.py"]   (JSON)
// Outside such a pane it does nothing. It never throws: a plugin error must not stop the agent.
import { spawn } from "node:child_process";

const EVENTS = new Set([
  "session.status", "session.idle", "session.error",
  "permission.asked", "permission.replied",
  "question.asked", "question.replied", "question.rejected",
]);

// One hook process at a time, in event order: events come in bursts (busy, then retry, a
// few ms apart) and separate processes racing each other recorded them out of order.
let queue = Promise.resolve();

function runHook(argv, event) {
  return new Promise((resolve) => {
    try {
      const child = spawn(argv[0], [...argv.slice(1), "opencode", event.type],
                          { stdio: ["pipe", "ignore", "ignore"] });
      child.on("error", resolve);
      child.on("close", resolve);
      child.stdin.on("error", () => {});
      child.stdin.end(JSON.stringify(event));
    } catch {
      resolve();  // the hook is best effort, like every agent's hook
    }
  });
}

export const Agentmux = async () => {
  let argv = null;
  try {
    argv = process.env.AGENTMUX_PANE_DIR ? JSON.parse(process.env.AGENTMUX_HOOK_ARGV || "") : null;
  } catch {
    argv = null;
  }
  return {
    event: async ({ event }) => {
      if (!Array.isArray(argv) || !argv.length || !event || !EVENTS.has(event.type)) return;
      queue = queue.then(() => runHook(argv, event));
    },
  };
};
