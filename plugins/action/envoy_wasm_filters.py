# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run envoy_wasm_filters, first sending the host the modules pulled on the controller that it lacks.

The module says which modules its host lacks (``missing_modules``) and changes nothing; only those
are transferred, into the task's private temporary directory, and the module runs again and
stores them under the Envoy's lock. A host that has every module costs one module run.
"""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

MODULE = 'wasm.oci.envoy_wasm_filters'


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        try:
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            missing = result.get('missing_modules')
            if not missing or result.get('failed'):
                return result
            args['uploaded_modules'] = self._upload(missing, args.get('controller_pulls') or [])
            del result['missing_modules']
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            if result.get('missing_modules'):
                # Another run pruned what was just sent: nothing was applied, so this must not pass for a success.
                raise AnsibleActionFail('The host lost modules sent to it before they were stored (a concurrent run?); '
                                        'nothing was changed: run again')
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _upload(self, missing: list[dict[str, str]], controller_pulls: list[t.Any]) -> dict[str, str]:
        """Send each missing module from the file the controller's pull wrote; the host paths of the copies, by store path."""
        sources = {}
        for item in controller_pulls:
            digest = ((item.get('image') or {}).get('wasm') or {}).get('digest') if isinstance(item, dict) else None
            if digest and item.get('dest'):
                sources[digest] = item['dest']
        if self._connection._shell.tmpdir is None:
            self._make_tmp_path()
        uploads = {}
        for entry in missing:
            source = sources.get(entry['digest'])
            if source is None:
                raise AnsibleActionFail(f'No pulled file on the controller holds module {entry["digest"]} for {entry["path"]}')
            remote = self._connection._shell.join_path(self._connection._shell.tmpdir, entry['digest'].split(':')[-1] + '.wasm')
            self._transfer_file(source, remote)
            uploads[entry['path']] = remote
        self._fixup_perms2([self._connection._shell.tmpdir, *uploads.values()])
        return uploads
