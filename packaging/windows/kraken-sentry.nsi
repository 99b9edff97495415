; The Kraken Sentry installer (NSIS 3, amd64-unicode). Built by scripts/build-installer.sh:
;   makensis -DVERSION=x.y.z -DEXE=path\to\kraken-sentry.exe -DOUTFILE=setup.exe kraken-sentry.nsi
;
; Interactive, or silent with /S and:
;   /BASE=host:port /GUID=id /CERT=file /KEY=file /CA=file
;       the certificate, key and CA are copied into %ProgramData%\KrakenSentry and sentry.toml
;       is written to link to that base (`kraken-sentry config init`);
;   /CONFIG=file
;       that file becomes sentry.toml (it names its own key files).
; With neither, an existing sentry.toml is kept (an upgrade); a first install writes one that
; keeps records in a local file until a base is configured.
; The service KrakenSentry is registered (or updated) by `kraken-sentry service install`,
; which also makes %ProgramData%\KrakenSentry the Administrators' own (owner and a protected
; DACL for SYSTEM and the Administrators) before any key is copied there, then started.
; Bad options change nothing: they are checked first (exit code 2). An upgrade stops the service, replaces the program and starts it again; the
; configuration, keys, state and spool stay.
; The uninstaller stops and deletes the service and the program files; it keeps
; %ProgramData%\KrakenSentry unless given /PURGE.

Unicode true
Target amd64-unicode
SetCompressor /SOLID lzma

!include "FileFunc.nsh"
!include "LogicLib.nsh"

!ifndef VERSION | VERSION_QUAD | EXE | OUTFILE
  !error "give -DVERSION=, -DVERSION_QUAD= (a.b.c.d), -DEXE= and -DOUTFILE="
!endif

!define PRODUCT "Kraken Sentry"
!define PUBLISHER "Kraken SIEM project"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\KrakenSentry"

Name "${PRODUCT} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\${PRODUCT}"
; An upgrade goes where the first install went.
InstallDirRegKey HKLM "${UNINSTALL_KEY}" "InstallLocation"
RequestExecutionLevel admin
ShowInstDetails show
ShowUninstDetails show
VIProductVersion "${VERSION_QUAD}"
VIAddVersionKey "ProductName" "${PRODUCT}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "FileDescription" "${PRODUCT} installer"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "LegalCopyright" "${PUBLISHER}"

Page directory
Page instfiles
UninstPage uninstConfirm
UninstPage instfiles

Var DataDir
Var Config
Var Base
Var Guid
Var Cert
Var Key
Var Ca
Var GivenConfig
Var ExitCode

!macro Option NAME VAR
  ClearErrors
  ${GetOptions} $R0 "/${NAME}=" ${VAR}
  ${If} ${Errors}
    StrCpy ${VAR} ""
  ${EndIf}
!macroend

Function .onInit
  SetRegView 64
  SetShellVarContext all
  StrCpy $DataDir "$APPDATA\KrakenSentry"
  StrCpy $Config "$DataDir\sentry.toml"
  ${GetParameters} $R0
  !insertmacro Option BASE $Base
  !insertmacro Option GUID $Guid
  !insertmacro Option CERT $Cert
  !insertmacro Option KEY $Key
  !insertmacro Option CA $Ca
  !insertmacro Option CONFIG $GivenConfig
  ; Every option is checked before anything changes: a bad upgrade leaves the service running.
  ${If} $GivenConfig != ""
    ${IfNot} ${FileExists} "$GivenConfig"
      Call RefuseOptions
    ${EndIf}
  ${ElseIf} $Base != ""
    ${If} $Guid == ""
    ${OrIfNot} ${FileExists} "$Cert"
    ${OrIfNot} ${FileExists} "$Key"
    ${OrIfNot} ${FileExists} "$Ca"
      Call RefuseOptions
    ${EndIf}
  ${EndIf}
FunctionEnd

Function RefuseOptions
  IfSilent +2
    MessageBox MB_ICONSTOP "Give /CONFIG=file, or /BASE=host:port with /GUID=, and /CERT=, /KEY=, /CA= files that exist."
  SetErrorLevel 2
  Quit
FunctionEnd

Section "Kraken Sentry"
  ; An upgrade: the running service lets go of the program first, and the old program is
  ; moved aside (a running executable can be renamed, not replaced).
  ${If} ${FileExists} "$INSTDIR\kraken-sentry.exe"
    DetailPrint "stopping the running service"
    nsExec::ExecToLog '"$INSTDIR\kraken-sentry.exe" service stop'
    Pop $ExitCode
    DetailPrint "service stop: $ExitCode"
    Delete "$INSTDIR\kraken-sentry.old.exe"
    Rename "$INSTDIR\kraken-sentry.exe" "$INSTDIR\kraken-sentry.old.exe"
    Delete /REBOOTOK "$INSTDIR\kraken-sentry.old.exe"
  ${EndIf}

  SetOutPath "$INSTDIR"
  AllowSkipFiles off
  File "/oname=kraken-sentry.exe" "${EXE}"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  ; The Add/Remove Programs entry before anything can fail: a half-done install can be removed.
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\kraken-sentry.exe"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "EstimatedSize" "$0"

  ; Registered first, not started: this also makes the data folder the administrators' own
  ; (owner and a protected DACL), so the keys copied next are never readable by others.
  nsExec::ExecToLog '"$INSTDIR\kraken-sentry.exe" service install --protect-program-dir --config "$Config"'
  Pop $ExitCode
  ${If} $ExitCode != 0
    SetErrorLevel 4
    Abort "the service could not be installed (kraken-sentry service install: $ExitCode)"
  ${EndIf}

  ${If} $GivenConfig != ""
    CopyFiles /SILENT "$GivenConfig" "$Config"
  ${ElseIf} $Base != ""
    CopyFiles /SILENT "$Cert" "$DataDir\sentry.pem"
    CopyFiles /SILENT "$Key" "$DataDir\sentry.key"
    CopyFiles /SILENT "$Ca" "$DataDir\ca.pem"
    nsExec::ExecToLog '"$INSTDIR\kraken-sentry.exe" config init --force --out "$Config" --base "$Base" --guid "$Guid" --cert "$DataDir\sentry.pem" --key "$DataDir\sentry.key" --ca "$DataDir\ca.pem" --data-dir "$DataDir\data"'
    Pop $ExitCode
    ${If} $ExitCode != 0
      SetErrorLevel 3
      Abort "cannot write $Config (kraken-sentry config init: $ExitCode)"
    ${EndIf}
  ${ElseIfNot} ${FileExists} "$Config"
    nsExec::ExecToLog '"$INSTDIR\kraken-sentry.exe" config init --out "$Config" --data-dir "$DataDir\data"'
    Pop $ExitCode
    ${If} $ExitCode != 0
      SetErrorLevel 3
      Abort "cannot write $Config (kraken-sentry config init: $ExitCode)"
    ${EndIf}
  ${Else}
    DetailPrint "keeping $Config"
  ${EndIf}

  nsExec::ExecToLog '"$INSTDIR\kraken-sentry.exe" service start'
  Pop $ExitCode
  ${If} $ExitCode != 0
    SetErrorLevel 4
    Abort "the service could not be started (kraken-sentry service start: $ExitCode)"
  ${EndIf}
SectionEnd

Function un.onInit
  SetRegView 64
  SetShellVarContext all
  StrCpy $DataDir "$APPDATA\KrakenSentry"
FunctionEnd

Section "Uninstall"
  ; A registered service must go before its program: else nothing could remove it.
  nsExec::ExecToLog '"$INSTDIR\kraken-sentry.exe" service status'
  Pop $ExitCode
  ${If} $ExitCode == 0
    nsExec::ExecToLog '"$INSTDIR\kraken-sentry.exe" service uninstall'
    Pop $ExitCode
    ${If} $ExitCode != 0
      SetErrorLevel 4
      Abort "the service could not be removed (kraken-sentry service uninstall: $ExitCode)"
    ${EndIf}
  ${EndIf}
  Delete "$INSTDIR\kraken-sentry.old.exe"
  Delete "$INSTDIR\kraken-sentry.exe"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKLM "${UNINSTALL_KEY}"
  ${un.GetParameters} $R0
  ClearErrors
  ${un.GetOptions} $R0 "/PURGE" $R1
  ${IfNot} ${Errors}
    DetailPrint "purging $DataDir"
    RMDir /r "$DataDir"
  ${Else}
    DetailPrint "keeping $DataDir (configuration, keys, state)"
  ${EndIf}
SectionEnd
