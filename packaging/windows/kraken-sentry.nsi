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
; The service KrakenSentry is installed (or updated) and started by `kraken-sentry service
; install --start`, which also restricts %ProgramData%\KrakenSentry to SYSTEM and the
; Administrators. An upgrade stops the service, replaces the program and starts it again; the
; configuration, keys, state and spool stay.
; The uninstaller stops and deletes the service and the program files; it keeps
; %ProgramData%\KrakenSentry unless given /PURGE.

Unicode true
Target amd64-unicode
SetCompressor /SOLID lzma

!include "FileFunc.nsh"
!include "LogicLib.nsh"

!ifndef VERSION | EXE | OUTFILE
  !error "give -DVERSION=, -DEXE= and -DOUTFILE="
!endif

!define PRODUCT "Kraken Sentry"
!define PUBLISHER "Kraken SIEM project"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\KrakenSentry"

Name "${PRODUCT} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\${PRODUCT}"
RequestExecutionLevel admin
ShowInstDetails show
ShowUninstDetails show
VIProductVersion "${VERSION}.0"
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
FunctionEnd

; Copies $0 into the data folder as $1, or aborts saying which file is missing.
Function CopyIntoData
  ${IfNot} ${FileExists} "$0"
    DetailPrint "missing file: $0"
    SetErrorLevel 2
    Abort "missing file: $0"
  ${EndIf}
  CopyFiles /SILENT "$0" "$DataDir\$1"
FunctionEnd

Section "Kraken Sentry"
  ; An upgrade: the running service lets go of the program first.
  ${If} ${FileExists} "$INSTDIR\kraken-sentry.exe"
    DetailPrint "stopping the running service"
    nsExec::ExecToLog '"$INSTDIR\kraken-sentry.exe" service stop'
    Pop $ExitCode
    ; The process may still be exiting after it reported STOPPED.
    Sleep 2000
  ${EndIf}

  SetOutPath "$INSTDIR"
  File "/oname=kraken-sentry.exe" "${EXE}"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateDirectory "$DataDir"

  ${If} $GivenConfig != ""
    ${IfNot} ${FileExists} "$GivenConfig"
      SetErrorLevel 2
      Abort "missing file: $GivenConfig"
    ${EndIf}
    CopyFiles /SILENT "$GivenConfig" "$Config"
  ${ElseIf} $Base != ""
    ${If} $Guid == ""
      SetErrorLevel 2
      Abort "/BASE needs /GUID, /CERT, /KEY and /CA"
    ${EndIf}
    StrCpy $0 $Cert
    StrCpy $1 "sentry.pem"
    Call CopyIntoData
    StrCpy $0 $Key
    StrCpy $1 "sentry.key"
    Call CopyIntoData
    StrCpy $0 $Ca
    StrCpy $1 "ca.pem"
    Call CopyIntoData
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

  nsExec::ExecToLog '"$INSTDIR\kraken-sentry.exe" service install --config "$Config" --start'
  Pop $ExitCode
  ${If} $ExitCode != 0
    SetErrorLevel 4
    Abort "the service could not be installed or started (kraken-sentry service install: $ExitCode)"
  ${EndIf}

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
SectionEnd

Function un.onInit
  SetRegView 64
  SetShellVarContext all
  StrCpy $DataDir "$APPDATA\KrakenSentry"
FunctionEnd

Section "Uninstall"
  nsExec::ExecToLog '"$INSTDIR\kraken-sentry.exe" service uninstall'
  Pop $ExitCode
  DetailPrint "service uninstall: $ExitCode"
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
